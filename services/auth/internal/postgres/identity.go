package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

var (
	_ auth.TOTPStore       = (*DB)(nil)
	_ auth.IdentityStore   = (*DB)(nil)
	_ auth.InvitationStore = (*DB)(nil)
	_ auth.AccountStore    = (*DB)(nil)
)

const identityUserColumns = `u.id, u.username, u.password_hash, u.disabled, u.created_at`

func scanIdentityUser(row pgx.Row) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Disabled, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, auth.ErrNotFound
	}
	return u, err
}

// StartTOTP implements auth.TOTPStore.
func (db *DB) StartTOTP(ctx context.Context, userID uuid.UUID, sealed []byte, now time.Time) error {
	tag, err := db.pool.Exec(ctx,
		`INSERT INTO user_totp (user_id, sealed, created_at) VALUES ($1, $2, $3)
		 ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at, last_step = 0
		 WHERE user_totp.confirmed_at IS NULL`, userID, sealed, now)
	if err != nil {
		return dbErr("start totp", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrTOTPEnrolled
	}
	return nil
}

// TOTP implements auth.TOTPStore.
func (db *DB) TOTP(ctx context.Context, userID uuid.UUID) (auth.TOTPEnrolment, error) {
	e := auth.TOTPEnrolment{UserID: userID}
	var confirmed *time.Time
	err := db.pool.QueryRow(ctx, `SELECT sealed, confirmed_at, last_step FROM user_totp WHERE user_id = $1`, userID).
		Scan(&e.Sealed, &confirmed, &e.LastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.TOTPEnrolment{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.TOTPEnrolment{}, dbErr("totp", err)
	}
	e.Confirmed = confirmed != nil
	return e, nil
}

// ConfirmTOTP implements auth.TOTPStore.
func (db *DB) ConfirmTOTP(ctx context.Context, userID uuid.UUID, step int64, hashes [][]byte, now time.Time) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE user_totp SET confirmed_at = $2, last_step = $3 WHERE user_id = $1 AND confirmed_at IS NULL AND last_step < $3`,
			userID, now, step)
		if err != nil {
			return dbErr("confirm totp", err)
		}
		if tag.RowsAffected() != 1 {
			return auth.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
			return dbErr("confirm totp", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO user_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])`, userID, hashes)
		if err != nil {
			return dbErr("store recovery codes", err)
		}
		return nil
	})
}

// UseTOTPStep implements auth.TOTPStore. The conditional UPDATE takes the row lock, so of two
// sign-ins with one code exactly one moves last_step.
func (db *DB) UseTOTPStep(ctx context.Context, userID uuid.UUID, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx,
		`UPDATE user_totp SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2`, userID, step)
	if err != nil {
		return false, dbErr("use totp step", err)
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode implements auth.TOTPStore.
func (db *DB) UseRecoveryCode(ctx context.Context, userID uuid.UUID, hash []byte, now time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx,
		`UPDATE user_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`, userID, hash, now)
	if err != nil {
		return false, dbErr("use recovery code", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecoveryCodesLeft implements auth.TOTPStore.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID uuid.UUID) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	if err != nil {
		return 0, dbErr("recovery codes left", err)
	}
	return n, nil
}

// DeleteTOTP implements auth.TOTPStore.
func (db *DB) DeleteTOTP(ctx context.Context, userID uuid.UUID) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
			return dbErr("delete recovery codes", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_totp WHERE user_id = $1`, userID); err != nil {
			return dbErr("delete totp", err)
		}
		return nil
	})
}

// UserByIdentity implements auth.IdentityStore.
func (db *DB) UserByIdentity(ctx context.Context, issuer, subject string) (auth.User, error) {
	u, err := scanIdentityUser(db.pool.QueryRow(ctx,
		`SELECT `+identityUserColumns+` FROM user_identities i JOIN users u ON u.id = i.user_id WHERE i.issuer = $1 AND i.subject = $2`,
		issuer, subject))
	if err != nil && !errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, dbErr("user by identity", err)
	}
	return u, err
}

// CreateUserWithIdentity implements auth.IdentityStore.
func (db *DB) CreateUserWithIdentity(ctx context.Context, u auth.User, id auth.Identity) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return createUserWithIdentity(ctx, tx, u, &id) })
}

func createUserWithIdentity(ctx context.Context, tx pgx.Tx, u auth.User, id *auth.Identity) error {
	_, err := tx.Exec(ctx, `INSERT INTO users (id, username, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.Username, u.PasswordHash, u.Disabled, u.CreatedAt)
	if isUniqueViolation(err) {
		return auth.ErrUsernameTaken
	}
	if err != nil {
		return dbErr("create user", err)
	}
	if id == nil {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO user_identities (issuer, subject, user_id, email, created_at) VALUES ($1, $2, $3, $4, $5)`,
		id.Issuer, id.Subject, u.ID, id.Email, id.CreatedAt)
	if err != nil {
		// A racing first sign-in of the same person linked it first: refuse this one.
		return dbErr("link identity", err)
	}
	return nil
}

// Identities implements auth.IdentityStore.
func (db *DB) Identities(ctx context.Context, userID uuid.UUID) ([]auth.Identity, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT issuer, subject, user_id, email, created_at FROM user_identities WHERE user_id = $1 ORDER BY created_at`, userID)
	if err != nil {
		return nil, dbErr("identities", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Identity, error) {
		var i auth.Identity
		err := r.Scan(&i.Issuer, &i.Subject, &i.UserID, &i.Email, &i.CreatedAt)
		return i, err
	})
	if err != nil {
		return nil, dbErr("identities", err)
	}
	return out, nil
}

// SaveUpstreamLogin implements auth.IdentityStore.
func (db *DB) SaveUpstreamLogin(ctx context.Context, l auth.UpstreamLogin) error {
	_, err := db.pool.Exec(ctx,
		`INSERT INTO upstream_logins (state_hash, provider, nonce, verifier, return_to, invitation, user_id, created_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		l.StateHash, l.Provider, l.Nonce, l.Verifier, l.ReturnTo, l.Invitation, l.UserID, l.CreatedAt, l.ExpiresAt)
	if err != nil {
		return dbErr("save upstream login", err)
	}
	return nil
}

// TakeUpstreamLogin implements auth.IdentityStore: DELETE ... RETURNING, so a state is used
// once however many callbacks race.
func (db *DB) TakeUpstreamLogin(ctx context.Context, stateHash []byte, now time.Time) (auth.UpstreamLogin, error) {
	var l auth.UpstreamLogin
	err := db.pool.QueryRow(ctx,
		`DELETE FROM upstream_logins WHERE state_hash = $1
		 RETURNING state_hash, provider, nonce, verifier, return_to, invitation, user_id, created_at, expires_at`, stateHash).
		Scan(&l.StateHash, &l.Provider, &l.Nonce, &l.Verifier, &l.ReturnTo, &l.Invitation, &l.UserID, &l.CreatedAt, &l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !now.Before(l.ExpiresAt)) {
		return auth.UpstreamLogin{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.UpstreamLogin{}, dbErr("take upstream login", err)
	}
	return l, nil
}

// DeleteExpiredUpstreamLogins implements auth.IdentityStore.
func (db *DB) DeleteExpiredUpstreamLogins(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM upstream_logins WHERE expires_at < $1`, t)
	if err != nil {
		return 0, dbErr("delete expired upstream logins", err)
	}
	return tag.RowsAffected(), nil
}

// CreateInvitation implements auth.InvitationStore.
func (db *DB) CreateInvitation(ctx context.Context, inv auth.Invitation, hash []byte, now time.Time) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if inv.Kind == auth.ResetKind {
			tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = '' WHERE id = $1`, inv.UserID)
			if err != nil {
				return dbErr("reset password", err)
			}
			if tag.RowsAffected() != 1 {
				return auth.ErrNotFound
			}
			if err := endUserSignIns(ctx, tx, *inv.UserID, now); err != nil {
				return err
			}
			// An older reset link of the user stops working: only the newest one sets a password.
			if _, err := tx.Exec(ctx, `UPDATE invitations SET expires_at = $2 WHERE user_id = $1 AND kind = 'reset' AND used_at IS NULL AND expires_at > $2`,
				inv.UserID, now); err != nil {
				return dbErr("expire older resets", err)
			}
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO invitations (token_hash, id, kind, username, user_id, created_by, created_at, expires_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			hash, inv.ID, inv.Kind, inv.Username, inv.UserID, inv.CreatedBy, inv.CreatedAt, inv.ExpiresAt)
		if err != nil {
			return dbErr("create invitation", err)
		}
		return nil
	})
}

// endUserSignIns revokes the user's refresh tokens and ends their sign-in sessions.
func endUserSignIns(ctx context.Context, tx pgx.Tx, userID uuid.UUID, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, now); err != nil {
		return dbErr("revoke user's refresh tokens", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_id = $1`, userID); err != nil {
		return dbErr("end user's sessions", err)
	}
	return nil
}

const invitationColumns = `id, kind, username, user_id, created_by, created_at, expires_at, used_at`

func scanInvitation(row pgx.Row) (auth.Invitation, error) {
	var i auth.Invitation
	err := row.Scan(&i.ID, &i.Kind, &i.Username, &i.UserID, &i.CreatedBy, &i.CreatedAt, &i.ExpiresAt, &i.UsedAt)
	return i, err
}

// InvitationByHash implements auth.InvitationStore.
func (db *DB) InvitationByHash(ctx context.Context, hash []byte, now time.Time) (auth.Invitation, error) {
	i, err := scanInvitation(db.pool.QueryRow(ctx,
		`SELECT `+invitationColumns+` FROM invitations WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`, hash, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Invitation{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Invitation{}, dbErr("invitation", err)
	}
	return i, nil
}

// useInvitation marks the usable link of this kind used by userID and returns its user_id
// column; auth.ErrNotFound if none. The conditional UPDATE makes one of racing uses win.
func useInvitation(ctx context.Context, tx pgx.Tx, hash []byte, kind string, now time.Time, userID *uuid.UUID) (*uuid.UUID, error) {
	var owner *uuid.UUID
	err := tx.QueryRow(ctx,
		`UPDATE invitations SET used_at = $2, used_by = coalesce($4, user_id)
		 WHERE token_hash = $1 AND kind = $3 AND used_at IS NULL AND expires_at > $2 RETURNING user_id`,
		hash, now, kind, userID).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("use invitation", err)
	}
	return owner, nil
}

// AcceptInvitation implements auth.InvitationStore.
func (db *DB) AcceptInvitation(ctx context.Context, hash []byte, now time.Time, u auth.User, id *auth.Identity) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := useInvitation(ctx, tx, hash, auth.InviteKind, now, &u.ID); err != nil {
			return err
		}
		return createUserWithIdentity(ctx, tx, u, id)
	})
}

// AcceptReset implements auth.InvitationStore.
func (db *DB) AcceptReset(ctx context.Context, hash []byte, now time.Time, passwordHash string) (auth.User, error) {
	var u auth.User
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		owner, err := useInvitation(ctx, tx, hash, auth.ResetKind, now, nil)
		if err != nil {
			return err
		}
		if owner == nil {
			return auth.ErrNotFound
		}
		u, err = scanIdentityUser(tx.QueryRow(ctx,
			`UPDATE users u SET password_hash = $2 WHERE id = $1 RETURNING `+identityUserColumns, *owner, passwordHash))
		if err != nil {
			return err
		}
		return endUserSignIns(ctx, tx, u.ID, now)
	})
	if err != nil && !errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, dbErr("accept reset", err)
	}
	return u, err
}

// ListInvitations implements auth.InvitationStore.
func (db *DB) ListInvitations(ctx context.Context) ([]auth.Invitation, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+invitationColumns+` FROM invitations ORDER BY created_at DESC LIMIT 1000`)
	if err != nil {
		return nil, dbErr("list invitations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Invitation, error) { return scanInvitation(r) })
	if err != nil {
		return nil, dbErr("list invitations", err)
	}
	return out, nil
}

// RevokeInvitation implements auth.InvitationStore.
func (db *DB) RevokeInvitation(ctx context.Context, id uuid.UUID) (auth.Invitation, error) {
	inv, err := scanInvitation(db.pool.QueryRow(ctx, `DELETE FROM invitations WHERE id = $1 AND used_at IS NULL RETURNING `+invitationColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Invitation{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Invitation{}, dbErr("revoke invitation", err)
	}
	return inv, nil
}

// DeleteExpiredInvitations implements auth.InvitationStore.
func (db *DB) DeleteExpiredInvitations(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM invitations WHERE expires_at < $1`, t)
	if err != nil {
		return 0, dbErr("delete expired invitations", err)
	}
	return tag.RowsAffected(), nil
}

// AccountUserByID implements auth.AccountStore.
func (db *DB) AccountUserByID(ctx context.Context, id uuid.UUID) (auth.User, error) {
	u, err := scanIdentityUser(db.pool.QueryRow(ctx, `SELECT `+identityUserColumns+` FROM users u WHERE u.id = $1`, id))
	if err != nil && !errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, dbErr("user by id", err)
	}
	return u, err
}

// ListSignIns implements auth.AccountStore: live refresh families (one with an unused,
// unexpired, unrevoked token) and unexpired sign-in sessions.
func (db *DB) ListSignIns(ctx context.Context, userID uuid.UUID, now time.Time) ([]auth.SignIn, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT 'f-' || family_id::text, 'token', client_id, min(created_at), max(created_at), max(family_expires_at)
		 FROM refresh_tokens WHERE user_id = $1 AND family_expires_at > $2
		 GROUP BY family_id, client_id
		 HAVING bool_or(used_at IS NULL AND revoked_at IS NULL AND expires_at > $2) AND bool_and(revoked_at IS NULL)
		 UNION ALL
		 SELECT 's-' || translate(rtrim(encode(token_hash, 'base64'), '='), '+/', '-_'), 'browser', '', created_at, created_at, expires_at
		 FROM auth_sessions WHERE user_id = $1 AND expires_at > $2
		 ORDER BY 5 DESC`, userID, now)
	if err != nil {
		return nil, dbErr("list sign-ins", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.SignIn, error) {
		var s auth.SignIn
		err := r.Scan(&s.ID, &s.Kind, &s.ClientID, &s.CreatedAt, &s.LastUsed, &s.ExpiresAt)
		return s, err
	})
	if err != nil {
		return nil, dbErr("list sign-ins", err)
	}
	return out, nil
}

// EndRefreshFamily implements auth.AccountStore.
func (db *DB) EndRefreshFamily(ctx context.Context, userID, familyID uuid.UUID, now time.Time) error {
	tag, err := db.pool.Exec(ctx,
		`UPDATE refresh_tokens SET revoked_at = $3 WHERE family_id = $2 AND user_id = $1 AND revoked_at IS NULL`, userID, familyID, now)
	if err != nil {
		return dbErr("end refresh family", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return nil
}

// EndUserSession implements auth.AccountStore.
func (db *DB) EndUserSession(ctx context.Context, userID uuid.UUID, hash []byte) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM auth_sessions WHERE token_hash = $2 AND user_id = $1`, userID, hash)
	if err != nil {
		return dbErr("end session", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return nil
}
