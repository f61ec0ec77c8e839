package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

//go:embed schemas.json
var schemasJSON []byte

var pathParamRe = regexp.MustCompile(`\{([a-z]+)(\.\.\.)?\}`)

// OpenAPI returns the API's OpenAPI 3.1 document, generated from the route
// table and the schemas in schemas.json.
func (a *API) OpenAPI() ([]byte, error) {
	var schemas map[string]any
	if err := json.Unmarshal(schemasJSON, &schemas); err != nil {
		return nil, fmt.Errorf("decode schemas.json: %w", err)
	}
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	paths := map[string]map[string]any{}
	errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	for _, rt := range a.routes {
		for _, n := range []string{rt.Body, rt.Resp} {
			if _, ok := schemas[n]; n != "" && !ok {
				return nil, fmt.Errorf("route %s %s: no schema %q", rt.Method, rt.Path, n)
			}
		}
		specPath := pathParamRe.ReplaceAllString(rt.Path, "{$1}")
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
		}
		var params []any
		for _, m := range pathParamRe.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			p := map[string]any{"name": q.Name, "in": "query", "schema": map[string]any{"type": q.Type}}
			if q.Desc != "" {
				p["description"] = q.Desc
			}
			params = append(params, p)
		}
		for _, h := range rt.Header {
			params = append(params, map[string]any{"name": h.Name, "in": "header", "description": h.Desc, "schema": map[string]any{"type": h.Type}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Body != "" {
			ct := "application/json"
			switch rt.Body {
			case "Binary":
				ct = "application/octet-stream"
			case "IngestBatchLines":
				ct = "application/x-ndjson"
			}
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": ref(rt.Body)}}}
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		switch {
		case rt.RespCT != "":
			ok["content"] = map[string]any{rt.RespCT: map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.Resp != "":
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.Resp)}}
		}
		responses := map[string]any{fmt.Sprint(status): ok, "default": errResp}
		if rt.Method == "POST" && rt.Path == pProject+"/runs" {
			responses["200"] = map[string]any{"description": "resumed", "content": map[string]any{"application/json": map[string]any{"schema": ref("Run")}}}
		}
		op["responses"] = responses
		if !rt.Public {
			op["security"] = []any{map[string]any{"bearer": []any{}}, map[string]any{"basic": []any{}}}
		}
		if paths[specPath] == nil {
			paths[specPath] = map[string]any{}
		}
		paths[specPath][strings.ToLower(rt.Method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Fluoro API",
			"version":     "v1",
			"description": "Native API of the Fluoro experiment tracker. Authenticate with 'Authorization: Bearer <API key>' or HTTP Basic (any user, the key as password). Errors are {\"error\": {\"code\", \"message\"}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
				"basic":  map[string]any{"type": "http", "scheme": "basic"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func operationID(rt route) string {
	if rt.OpID != "" {
		return rt.OpID
	}
	p := strings.TrimPrefix(rt.Path, "/api/v1/")
	p = pathParamRe.ReplaceAllString(p, "")
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '.' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func (a *API) openapi(w http.ResponseWriter, r *http.Request) error {
	doc, err := a.OpenAPI()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
	return nil
}
