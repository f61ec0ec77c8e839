// Command fluoro is the Fluoro experiment tracker: server, CLI and more.
package main

import (
	"context"
	"os"

	"github.com/fluoro-dev/fluoro/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), cli.Env{
		Args: os.Args[1:], Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}))
}
