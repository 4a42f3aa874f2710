package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 1 << 20

// handlerFunc is an API handler: it writes a success itself and returns
// an error for writeError to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc to http.Handler.
func (s *Server) handle(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			if statusOf(err) >= http.StatusInternalServerError {
				s.log.Warn("admin request failed",
					zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
			}
			writeError(w, err)
		}
	})
}

// apiError is an error with the HTTP status that answers it and the
// message a person reads.
type apiError struct {
	status int
	msg    string
	allow  string // Allow header of a 405
}

// Error returns the message.
func (e *apiError) Error() string { return e.msg }

// errorf returns an apiError with a formatted message.
func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error to its HTTP status: an apiError's own, else by
// the Backend's sentinel, else 500.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	for _, sentinel := range sentinels() {
		if errors.Is(err, sentinel) {
			return sentinelStatus(sentinel)
		}
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// writeError answers err as {"error": message} with its status.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) && ae.allow != "" {
		w.Header().Set("Allow", ae.allow)
	}
	msg := err.Error()
	if errors.Is(err, ErrNotLeader) && !errors.As(err, &ae) {
		msg += "; leadership is changing, retry shortly"
	}
	writeJSON(w, statusOf(err), errorBody{Error: msg})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status is sent; an encoding error can only be a broken
	// connection, which nobody is left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads r's body, at most maxBodyBytes, into v. Unknown
// fields, trailing data and an empty body are 400; an oversized body 413.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(err)
		}
		return errorf(http.StatusBadRequest, "invalid request body: unexpected data after the JSON value")
	}
	return nil
}

// bodyError turns a JSON decoding error into a message a person can act
// on.
func bodyError(err error) error {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBodyBytes)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "request body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "invalid request body: JSON ends too early")
	case errors.As(err, &syntaxErr):
		return errorf(http.StatusBadRequest, "invalid request body: JSON syntax error at byte %d: %s",
			syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the body"
		}
		return errorf(http.StatusBadRequest, "invalid request body: %s must be a JSON %s, not %s",
			field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "invalid request body: unknown field %s",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return errorf(http.StatusBadRequest, "invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "slice" || kind == "array":
		return "array"
	case kind == "struct" || kind == "map":
		return "object"
	case kind == "bool":
		return "boolean"
	default:
		return kind
	}
}
