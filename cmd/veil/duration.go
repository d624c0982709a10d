package main

import (
	"flag"
	"time"

	"veil/client"
)

// durationValue is a flag value read by client.ParseDuration, so every
// duration flag takes 7d and 2w as the TUI does.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := client.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return time.Duration(*d).String() }

// durationFlag defines a duration flag on fs, like fs.Duration.
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = def
	fs.Var((*durationValue)(p), name, usage)
	return p
}
