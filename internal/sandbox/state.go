package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A sandbox with Config.StateFile keeps its account there: the numbers it
// owns, with their settings, and its balance. So a restarted sandbox still
// owns the numbers maskcall's database has in its pool, as Vonage would.
// Requests, texts, calls and faults are a session's and are not kept.

// stateVersion is the format of the state file.
const stateVersion = 1

type savedState struct {
	Version int           `json:"version"`
	Balance float64       `json:"balance"`
	Owned   []OwnedNumber `json:"owned"`
}

// Open returns a Sandbox for cfg, with the account saved in cfg.StateFile
// if there is one; without StateFile it is New.
func Open(cfg Config) (*Sandbox, error) {
	s := New(cfg)
	if cfg.StateFile == "" {
		return s, nil
	}
	raw, err := os.ReadFile(cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return s, s.saveState()
	} else if err != nil {
		return nil, err
	}
	var st savedState
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%s is not a sandbox state file: %w", cfg.StateFile, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s has state version %d; this sandbox reads version %d", cfg.StateFile, st.Version, stateVersion)
	}
	s.mu.Lock()
	s.balance = st.Balance
	for _, n := range st.Owned {
		if !msisdnRE.MatchString(n.MSISDN) || !countryRE.MatchString(n.Country) {
			s.mu.Unlock()
			return nil, fmt.Errorf("%s: owned number %q is not valid", cfg.StateFile, n.MSISDN)
		}
		n := n
		s.owned[n.MSISDN] = &n
	}
	s.saved = raw
	s.mu.Unlock()
	return s, nil
}

// saveState writes the account to the state file if it changed.
func (s *Sandbox) saveState() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := savedState{Version: stateVersion, Balance: s.balance, Owned: []OwnedNumber{}}
	for _, n := range s.owned {
		st.Owned = append(st.Owned, *n)
	}
	slices.SortFunc(st.Owned, func(a, b OwnedNumber) int { return strings.Compare(a.MSISDN, b.MSISDN) })
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if bytes.Equal(raw, s.saved) {
		return nil
	}
	// Write a new file and rename it over the old, so a crash leaves one
	// or the other, never half of one.
	dir := filepath.Dir(s.cfg.StateFile)
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.cfg.StateFile); err != nil {
		return err
	}
	s.saved = raw
	return nil
}

// persist saves the account after a request that may have changed it.
func (s *Sandbox) persist(r *http.Request) {
	if s.cfg.StateFile == "" || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return
	}
	if err := s.saveState(); err != nil && s.cfg.StateError != nil {
		s.cfg.StateError(err)
	}
}
