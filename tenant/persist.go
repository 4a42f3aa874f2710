package tenant

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/store"
)

// StoreFileSuffix ends the name of a tenant's store file in
// HostConfig.StoreDir: "<tenant>.db".
const StoreFileSuffix = ".db"

// StorePath returns the store file of the tenant name in dir (a
// HostConfig.StoreDir).
func StorePath(dir, name string) string {
	return filepath.Join(dir, name+StoreFileSuffix)
}

// openStore opens the store of a tenant about to start, or returns nil
// when it has none: the Host has no StoreDir, or the spec's persistence
// is off (a file left from before is deleted then: it would bring back
// stale sessions when persistence is turned on again). Errors name the
// tenant and the file. h.mu held.
func (h *Host) openStore(spec Spec) (*store.Bolt, error) {
	if h.cfg.StoreDir == "" {
		return nil, nil
	}
	path := StorePath(h.cfg.StoreDir, spec.Name)
	if spec.Limits.Persistence == PersistenceOff {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err := store.Remove(path); err != nil {
			return nil, fmt.Errorf("tenant %q: persistence off: %w", spec.Name, err)
		}
		h.log.Warn("tenant store deleted: limits.persistence is off", zap.String("tenant", spec.Name), zap.String("file", path))
		return nil, nil
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", spec.Name, err)
	}
	return st, nil
}

// deleteStore deletes the store file of a removed tenant (its broker, if
// it ran, is shut down: the file is closed). h.mu held.
func (h *Host) deleteStore(name string) error {
	if h.cfg.StoreDir == "" {
		return nil
	}
	path := StorePath(h.cfg.StoreDir, name)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := store.Remove(path); err != nil {
		return fmt.Errorf("tenant %q: %w", name, err)
	}
	h.log.Info("tenant store deleted", zap.String("tenant", name), zap.String("file", path))
	return nil
}

// warnPersistence logs that a change of a running tenant's persistence
// to or from "off" waits for the tenant's next start. h.mu held.
func (h *Host) warnPersistence(old, spec Spec) {
	was, now := old.Limits.Persistence, spec.Limits.Persistence
	if h.cfg.StoreDir == "" || was == now || (was != PersistenceOff && now != PersistenceOff) {
		return
	}
	h.log.Warn("limits.persistence changed to or from off: applies at the tenant's next start on this node",
		zap.String("tenant", spec.Name), zap.String("was", was), zap.String("now", now))
}

// storeSync reports whether the tenant t, given spec, sends its
// acknowledgements only once their changes are on disk.
func (t *running) storeSync(spec Spec) bool {
	return t.store != nil && spec.Limits.Persistence == PersistenceSync
}
