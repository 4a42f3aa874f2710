package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNewerVersion is wrapped by the errors of entries and snapshots that
// a newer jmqx wrote and this node cannot fully understand: an unknown
// command or record type without FlagIgnorable, a payload or snapshot
// format version newer than this node knows, or a JSON field it does not
// know.
var ErrNewerVersion = errors.New("this node runs an older jmqx than the cluster: upgrade this node")

// errCorrupt is wrapped by the errors of entries that no jmqx writes.
var errCorrupt = errors.New("the entry is corrupt")

// StoppedError is the error with which the FSM stops applying the log at
// an entry it cannot apply exactly as the leader meant it: one that wraps
// ErrNewerVersion, or a corrupt one. Applying it anyway, or skipping it,
// would let this node's state silently diverge from the others'. From then
// on the FSM refuses every entry with this same error and refuses to
// snapshot, so that the log is kept for when the node restarts upgraded or
// repaired; FSM.Err and Store.Err return it, and FSM.Stopped and
// Store.Stopped are closed.
type StoppedError struct {
	Index uint64      // Raft index of the entry (of the snapshot, for a restore)
	Type  CommandType // its type byte (0 if the entry was empty or a snapshot)
	Err   error       // what is wrong with it
}

// Error describes the entry and what to do.
func (e *StoppedError) Error() string {
	what := e.Type.String()
	if e.Type == 0 {
		what = "snapshot or empty entry"
	}
	return fmt.Sprintf("meta: stopped applying the raft log at index %d (%s): %v", e.Index, what, e.Err)
}

// Unwrap returns the cause.
func (e *StoppedError) Unwrap() error { return e.Err }

// decodePayload decodes an entry's payload into T strictly: the version
// must be one this node knows (1..maxVersion), every JSON field must be
// known, nothing may follow the JSON value, and the payload may set only
// fields its version has. The error wraps ErrNewerVersion or errCorrupt.
func decodePayload[T command](data []byte, maxVersion int) (T, error) {
	var p T
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return p, fmt.Errorf("%w: payload: %v", errCorrupt, err)
	}
	switch {
	case head.V > maxVersion:
		return p, fmt.Errorf("payload version %d, this node knows up to %d: %w", head.V, maxVersion, ErrNewerVersion)
	case head.V < PayloadVersion:
		return p, fmt.Errorf("%w: payload version %d", errCorrupt, head.V)
	}
	if err := strictUnmarshal(data, &p); err != nil {
		return p, err
	}
	if p.version() < p.minVersion() {
		return p, fmt.Errorf("%w: payload version %d sets fields of version %d", errCorrupt, p.version(), p.minVersion())
	}
	return p, nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields
// (ErrNewerVersion) and anything after the value (errCorrupt).
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// encoding/json has no typed error for an unknown field.
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			return fmt.Errorf("%s: %w", strings.TrimPrefix(msg, "json: "), ErrNewerVersion)
		}
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON value", errCorrupt)
	}
	return nil
}
