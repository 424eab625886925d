//go:build wfshlight

package store

import (
	"context"
	"errors"
	"fmt"
)

// The light wfsh links no PostgreSQL driver: its commands hand a
// PostgreSQL store to wfsh-full before they open it (cmd/wfsh), so these
// are not reached there.

// openPostgres refuses: this build has no PostgreSQL driver.
func openPostgres(dsn string) (*Store, error) {
	return nil, fmt.Errorf("run store %s: this wfsh has no PostgreSQL driver; wfsh-full has", redactURL(dsn))
}

func (s *Store) listenOnce(context.Context, string, func()) error {
	return errors.New("listen: this wfsh has no PostgreSQL driver")
}
