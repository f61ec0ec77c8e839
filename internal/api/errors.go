package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/fluoro-dev/fluoro/internal/auth"
	"github.com/fluoro-dev/fluoro/internal/blob"
	"github.com/fluoro-dev/fluoro/internal/ingest"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// Error codes in the JSON error body. Clients branch on these, so they are
// part of the API contract.
const (
	CodeBadData       = "bad_data"
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeNotFound      = "not_found"
	CodeConflict      = "conflict"
	CodeRunFinished   = "run_finished"
	CodeTooLarge      = "too_large"
	CodeUnprocessable = "unprocessable"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
)

// Error is an API error with a status, a stable code and a message a user
// can act on.
type Error struct {
	Status  int
	Code    string
	Message string
	Details any // optional, e.g. rejected records
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badData(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, CodeBadData, format, args...)
}

// errorBody is the JSON envelope of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details any    `json:"details,omitempty"`
	} `json:"error"`
}

// toAPIError maps any error to the one the client sees. It is the only
// place that decides statuses.
func toAPIError(err error) *Error {
	var e *Error
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &maxErr):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body over %d bytes: send smaller batches, or raise the server's limit (--max-body for API requests, --max-file for run files)", maxErr.Limit)
	case errors.Is(err, auth.ErrUnauthenticated):
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "%s", err)
	case errors.Is(err, ingest.ErrBadBatch), errors.Is(err, store.ErrInvalid), errors.Is(err, blob.ErrInvalidKey):
		return errorf(http.StatusBadRequest, CodeBadData, "%s", err)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%s", err)
	case errors.Is(err, store.ErrRunFinished):
		return errorf(http.StatusConflict, CodeRunFinished, "%s; resume the run to write to it again", err)
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, CodeConflict, "%s", err)
	case errors.Is(err, ingest.ErrClosed):
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "server is shutting down; retry shortly")
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error; the server log has details")
}

func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := toAPIError(err)
	if e.Status >= 500 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Details = e.Code, e.Message, e.Details
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fluoro"`)
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
