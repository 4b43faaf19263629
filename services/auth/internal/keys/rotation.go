package keys

import (
	"context"
	"fmt"
	"time"
)

// Step advances the rotation to the manager's clock, then reloads: it publishes a next key
// PublishLead before the active key's Interval ends, promotes a next key once its time has
// come (never before it has been published for PublishLead), and removes retired keys after
// RetainAfterRetire. It is safe to call from every replica at once.
func (m *Manager) Step(ctx context.Context) error {
	all, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	now := m.now().UTC()
	active, next := find(all)
	if active != nil && next == nil && m.rot.Interval > 0 && active.ActivatedAt != nil &&
		!now.Before(active.ActivatedAt.Add(m.rot.Interval-m.rot.PublishLead)) {
		at := maxTime(now.Add(m.rot.PublishLead), active.ActivatedAt.Add(m.rot.Interval))
		if _, err := m.publishNext(ctx, at); err != nil {
			return err
		}
	}
	if active != nil && next != nil && !now.Before(m.activationTime(next)) {
		won, err := m.store.Promote(ctx, active.ID, next.ID, now)
		if err != nil {
			return fmt.Errorf("keys: promote: %w", err)
		}
		if won {
			m.logger.Info("signing key rotated", "active", next.ID, "retired", active.ID)
		}
	}
	removed, err := m.store.RemoveRetired(ctx, now.Add(-m.rot.RetainAfterRetire))
	if err != nil {
		return fmt.Errorf("keys: remove retired: %w", err)
	}
	for _, kid := range removed {
		m.logger.Info("retired signing key removed", "kid", kid)
	}
	return m.Reload(ctx)
}

// RotateSoon asks for a rotation as early as the contract allows: it publishes a next key
// (or reuses the one already published) and schedules it to sign once it has been published
// for PublishLead. It returns the next key's id and when it will sign. Running replicas
// carry out the promotion in Step.
func (m *Manager) RotateSoon(ctx context.Context) (kid string, at time.Time, err error) {
	all, err := m.store.ListKeys(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("keys: list: %w", err)
	}
	now := m.now().UTC()
	if _, next := find(all); next != nil {
		at := next.CreatedAt.Add(m.rot.PublishLead)
		if err := m.store.ScheduleNext(ctx, next.ID, at); err != nil {
			return "", time.Time{}, fmt.Errorf("keys: schedule: %w", err)
		}
		if next.ActivateAt != nil && next.ActivateAt.Before(at) {
			at = *next.ActivateAt
		}
		return next.ID, maxTime(at, now), nil
	}
	k, err := m.publishNext(ctx, now.Add(m.rot.PublishLead))
	if err != nil {
		return "", time.Time{}, err
	}
	if k == nil { // another replica published one at the same moment: use it
		return m.RotateSoon(ctx)
	}
	return k.ID, *k.Sealed.ActivateAt, nil
}

// publishNext generates a key and stores it as the next key to sign at at, unless another
// replica stored one first (then it returns nil).
func (m *Manager) publishNext(ctx context.Context, at time.Time) (*Key, error) {
	k, err := m.Generate(StateNext)
	if err != nil {
		return nil, err
	}
	k.Sealed.ActivateAt = &at
	won, err := m.store.InsertNextIfNone(ctx, k.Sealed)
	if err != nil {
		return nil, fmt.Errorf("keys: store next key: %w", err)
	}
	if !won {
		return nil, nil
	}
	m.logger.Info("next signing key published", "kid", k.ID, "signs_from", at)
	return k, nil
}

// activationTime is when a next key may sign: its scheduled time, but never before it has
// been published for PublishLead.
func (m *Manager) activationTime(next *Sealed) time.Time {
	earliest := next.CreatedAt.Add(m.rot.PublishLead)
	if next.ActivateAt == nil {
		return earliest
	}
	return maxTime(*next.ActivateAt, earliest)
}

// ListSealed returns every stored key with its state and times, for `coffer-auth keys list`.
func (m *Manager) ListSealed(ctx context.Context) ([]Sealed, error) {
	return m.store.ListKeys(ctx)
}

// RemovalTime is when a retired key leaves the JWKS.
func (m *Manager) RemovalTime(s Sealed) (time.Time, bool) {
	if s.RetiredAt == nil {
		return time.Time{}, false
	}
	return s.RetiredAt.Add(m.rot.RetainAfterRetire), true
}

// ActivationTime is when a next key starts signing.
func (m *Manager) ActivationTime(s Sealed) (time.Time, bool) {
	if s.State != StateNext {
		return time.Time{}, false
	}
	return m.activationTime(&s), true
}

func find(all []Sealed) (active, next *Sealed) {
	for i := range all {
		switch all[i].State {
		case StateActive:
			active = &all[i]
		case StateNext:
			next = &all[i]
		}
	}
	return active, next
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
