package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Second-factor errors.
var (
	// ErrMFARequired means the password was right but the user has a TOTP second factor and
	// the request carried no code.
	ErrMFARequired = errors.New("second factor required")
	// ErrInvalidOTP means the password was right but the TOTP or recovery code was wrong,
	// already used, or outside the accepted time steps. It counts as a failed login.
	ErrInvalidOTP = errors.New("invalid one-time code")
	// ErrMFAEnrollmentRequired means the operator requires a second factor of everyone with a
	// password and this user has none yet: they set one up on the sign-in page.
	ErrMFAEnrollmentRequired = errors.New("second factor enrolment required")
	// ErrTOTPEnrolled means the user already has a confirmed TOTP second factor.
	ErrTOTPEnrolled = errors.New("totp already enrolled")
	// ErrNoSealer means the service runs without a key-encryption key (admin commands), so it
	// cannot keep TOTP secrets.
	ErrNoSealer = errors.New("no secret sealer configured")
)

// EnrolmentRequiredError is ErrMFAEnrollmentRequired for a user whose password was right: it
// names the user, so the sign-in page can lead them to set up a second factor there and then
// (EnrolAtSignIn) instead of locking them out.
type EnrolmentRequiredError struct{ User User }

func (e *EnrolmentRequiredError) Error() string { return ErrMFAEnrollmentRequired.Error() }

// Is makes errors.Is(err, ErrMFAEnrollmentRequired) hold.
func (e *EnrolmentRequiredError) Is(target error) bool { return target == ErrMFAEnrollmentRequired }

// TOTP parameters: RFC 6238's defaults, which every authenticator app supports.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew is how many steps either side of now a code may be from (clock drift, typing).
	totpSkew = 1
	// RecoveryCodeCount is how many recovery codes an enrolment hands out.
	RecoveryCodeCount = 10
)

// SecretSealer encrypts secrets the service must read back (TOTP seeds) under the
// key-encryption key, bound to ad (the user id), so a sealed value moved to another row
// does not open.
type SecretSealer interface {
	Seal(plain, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// TOTPEnrolment is a user's stored TOTP secret.
type TOTPEnrolment struct {
	UserID    uuid.UUID
	Sealed    []byte
	Confirmed bool
	LastStep  int64
}

// TOTPStore keeps TOTP secrets and recovery codes.
type TOTPStore interface {
	// StartTOTP stores an unconfirmed secret for the user, replacing an unconfirmed one;
	// ErrTOTPEnrolled if a confirmed one exists.
	StartTOTP(ctx context.Context, userID uuid.UUID, sealed []byte, now time.Time) error
	// TOTP returns the user's enrolment; ErrNotFound if there is none.
	TOTP(ctx context.Context, userID uuid.UUID) (TOTPEnrolment, error)
	// ConfirmTOTP marks the unconfirmed enrolment confirmed with step used, and replaces
	// the user's recovery codes with these hashes, in one transaction; ErrNotFound if no
	// unconfirmed enrolment exists.
	ConfirmTOTP(ctx context.Context, userID uuid.UUID, step int64, recoveryHashes [][]byte, now time.Time) error
	// UseTOTPStep records step as used if it is later than the last one used, and reports
	// whether it was (false: a replay, or an older code).
	UseTOTPStep(ctx context.Context, userID uuid.UUID, step int64) (bool, error)
	// UseRecoveryCode marks the user's unused code with this hash used at now and reports
	// whether there was one.
	UseRecoveryCode(ctx context.Context, userID uuid.UUID, hash []byte, now time.Time) (bool, error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID uuid.UUID) (int, error)
	// DeleteTOTP removes the user's TOTP secret and recovery codes.
	DeleteTOTP(ctx context.Context, userID uuid.UUID) error
}

// TOTPSetup is what a person needs to add the secret to an authenticator app.
type TOTPSetup struct {
	Secret string // base32, for typing in
	URL    string // otpauth:// URL, for the QR code
}

// accountLabel is the issuer name shown in authenticator apps.
const accountLabel = "Coffer"

// StartTOTP begins (or restarts) a TOTP enrolment for the user and returns the secret to
// show; it takes effect once ConfirmTOTP sees a code from it. ErrTOTPEnrolled if the user
// already has a confirmed one.
func (s *Service) StartTOTP(ctx context.Context, u User) (TOTPSetup, error) {
	if s.sealer == nil || s.st.TOTP == nil {
		return TOTPSetup{}, ErrNoSealer
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: accountLabel, AccountName: u.Username, Period: totpPeriod, Digits: totpDigits, SecretSize: 20})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("totp: generate: %w", err)
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret()), u.ID[:])
	if err != nil {
		return TOTPSetup{}, err
	}
	if err := s.st.TOTP.StartTOTP(ctx, u.ID, sealed, s.now().UTC()); err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: key.Secret(), URL: key.URL()}, nil
}

// ConfirmTOTP completes an enrolment with a code from the new secret and returns the
// recovery codes, the only time they exist outside the user: only their hashes are kept.
// ErrInvalidOTP for a wrong code; ErrNotFound if no enrolment was started.
func (s *Service) ConfirmTOTP(ctx context.Context, u User, code string) ([]string, error) {
	if s.sealer == nil || s.st.TOTP == nil {
		return nil, ErrNoSealer
	}
	e, err := s.st.TOTP.TOTP(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if e.Confirmed {
		return nil, ErrTOTPEnrolled
	}
	step, ok, err := s.matchTOTP(e, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidOTP
	}
	codes, hashes := make([]string, RecoveryCodeCount), make([][]byte, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = HashSecret(normalizeRecoveryCode(codes[i]))
	}
	if err := s.st.TOTP.ConfirmTOTP(ctx, u.ID, step, hashes, s.now().UTC()); err != nil {
		return nil, err
	}
	s.auditQuiet(ctx, Actor{ID: u.ID.String()}, AuditTOTPEnable, u.ID.String(), nil)
	return codes, nil
}

// EnrolAtSignIn completes a sign-in that the operator's MFA requirement stopped
// (EnrolmentRequiredError): the password is checked again under the login throttle, then the
// code from the secret the sign-in page showed (StartTOTP) turns the second factor on. It
// returns the user and their recovery codes. ErrInvalidOTP for a wrong code or when no
// enrolment was started (counted as a failed attempt, like a wrong password), wrapping the
// EnrolmentRequiredError.
//
// Whoever knows such a user's password can enrol: the requirement then holds from the first
// sign-in on (trust on first use), which beats locking the person out for good.
func (s *Service) EnrolAtSignIn(ctx context.Context, username, pw, code, address string) (User, []string, error) {
	u, err := s.AuthenticateWithCode(ctx, username, pw, "", address)
	var need *EnrolmentRequiredError
	switch {
	case err == nil:
		return u, nil, nil // no second factor needed (any more): signed in as it is
	case !errors.As(err, &need):
		return User{}, nil, err
	}
	codes, err := s.ConfirmTOTP(ctx, need.User, code)
	if errors.Is(err, ErrInvalidOTP) || errors.Is(err, ErrNotFound) {
		// The attempt AuthenticateWithCode gave back counts after all: codes are throttled
		// with passwords.
		if terr := s.throttle(ctx, loginKeys(strings.ToLower(username), address)); terr != nil {
			return User{}, nil, terr
		}
		// The user stays named, so the page can start the enrolment again.
		return User{}, nil, fmt.Errorf("%w: %w", ErrInvalidOTP, need)
	}
	if err != nil {
		return User{}, nil, err
	}
	d := map[string]string{"username": need.User.Username, "mfa": "totp_enrolled"}
	s.auditQuiet(ctx, Actor{ID: need.User.ID.String(), Address: address}, AuditLoginSuccess, need.User.ID.String(), d)
	return need.User, codes, nil
}

// DisableTOTP removes the user's second factor after checking a current code (TOTP or
// recovery); ErrInvalidOTP otherwise, ErrNotFound if they have none.
func (s *Service) DisableTOTP(ctx context.Context, u User, code string) error {
	if s.st.TOTP == nil {
		return ErrNotFound
	}
	e, err := s.st.TOTP.TOTP(ctx, u.ID)
	if err != nil {
		return err
	}
	if e.Confirmed {
		if err := s.useSecondFactor(ctx, e, code); err != nil {
			return err
		}
	}
	if err := s.st.TOTP.DeleteTOTP(ctx, u.ID); err != nil {
		return err
	}
	s.auditQuiet(ctx, Actor{ID: u.ID.String()}, AuditTOTPDisable, u.ID.String(), nil)
	return nil
}

// MFAStatus says whether the user has a confirmed second factor and how many recovery codes
// are left.
func (s *Service) MFAStatus(ctx context.Context, userID uuid.UUID) (enrolled bool, recoveryLeft int, err error) {
	if s.st.TOTP == nil {
		return false, 0, nil
	}
	e, err := s.st.TOTP.TOTP(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, 0, nil
	}
	if err != nil || !e.Confirmed {
		return false, 0, err
	}
	n, err := s.st.TOTP.RecoveryCodesLeft(ctx, userID)
	return true, n, err
}

// secondFactor applies the second-factor rules to a user whose password was right:
// nil when none is needed or code is a valid, unused TOTP or recovery code.
func (s *Service) secondFactor(ctx context.Context, u User, code string) error {
	if s.st.TOTP == nil {
		return nil
	}
	e, err := s.st.TOTP.TOTP(ctx, u.ID)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && !e.Confirmed):
		if s.cfg.MFARequired {
			return ErrMFAEnrollmentRequired
		}
		return nil
	case err != nil:
		return err
	}
	if code == "" {
		return ErrMFARequired
	}
	return s.useSecondFactor(ctx, e, code)
}

// useSecondFactor accepts a TOTP code of a step later than the last one used, or an unused
// recovery code, and uses it up.
func (s *Service) useSecondFactor(ctx context.Context, e TOTPEnrolment, code string) error {
	code = strings.TrimSpace(code)
	if len(code) > 64 {
		return ErrInvalidOTP
	}
	if len(code) == totpDigits.Length() {
		step, ok, err := s.matchTOTP(e, code)
		if err != nil {
			return err
		}
		if !ok {
			return ErrInvalidOTP
		}
		used, err := s.st.TOTP.UseTOTPStep(ctx, e.UserID, step)
		if err != nil {
			return err
		}
		if !used {
			return ErrInvalidOTP
		}
		return nil
	}
	used, err := s.st.TOTP.UseRecoveryCode(ctx, e.UserID, HashSecret(normalizeRecoveryCode(code)), s.now().UTC())
	if err != nil {
		return err
	}
	if !used {
		return ErrInvalidOTP
	}
	return nil
}

// matchTOTP returns the time step whose code equals code, among now and totpSkew steps
// either side, later than the last step used.
func (s *Service) matchTOTP(e TOTPEnrolment, code string) (int64, bool, error) {
	if s.sealer == nil {
		return 0, false, ErrNoSealer
	}
	secret, err := s.sealer.Open(e.Sealed, e.UserID[:])
	if err != nil {
		return 0, false, fmt.Errorf("totp: open secret: %w", err)
	}
	now := s.now().Unix() / totpPeriod
	found, match := int64(0), false
	for step := now - totpSkew; step <= now+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false, fmt.Errorf("totp: code: %w", err)
		}
		// Every candidate is compared, so the time taken says nothing of which matched.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > e.LastStep {
			found, match = step, true
		}
	}
	return found, match, nil
}

// recoveryEncoding writes recovery codes without padding or look-alike case.
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode returns 80 random bits as four groups of four base32 characters.
func newRecoveryCode() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	s := strings.ToLower(recoveryEncoding.EncodeToString(b[:]))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// normalizeRecoveryCode drops separators and case, so a code typed loosely still matches.
func normalizeRecoveryCode(c string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(c))
}
