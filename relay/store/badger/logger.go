package badger

import (
	"context"
	"log/slog"
)

// quietLogger passes Badger's warnings and errors on without their
// arguments, which may hold keys (that is, IDs); debug and info messages
// are dropped. With no slog.Logger it drops everything.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Errorf(format string, _ ...any) {
	if q.l != nil {
		q.l.LogAttrs(context.Background(), slog.LevelError, "badger", slog.String("what", format))
	}
}

func (q quietLogger) Warningf(format string, _ ...any) {
	if q.l != nil {
		q.l.LogAttrs(context.Background(), slog.LevelWarn, "badger", slog.String("what", format))
	}
}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}
