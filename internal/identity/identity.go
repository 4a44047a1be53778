// Package identity verifies the JWT the business's own auth issues, and
// reads the user id from it, so that a mini program never names its own
// user id at login.
package identity

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"wxnotify/internal/config"
)

// Verifier checks a JWT's signature, algorithm, exp and nbf (and iss and
// aud when configured) and returns the user id claim.
type Verifier struct {
	parser *jwt.Parser
	key    any
	claim  string
}

// NewVerifier builds a Verifier from the configuration; cfg.Enabled() must be true.
func NewVerifier(cfg config.UserJWT) (*Verifier, error) {
	var key any
	var alg string
	switch {
	case cfg.Secret != "":
		key, alg = []byte(cfg.Secret.Reveal()), jwt.SigningMethodHS256.Alg()
	case cfg.PublicKey != "":
		k, err := config.ParsePublicKey(cfg.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("USER_JWT_PUBLIC_KEY: %w", err)
		}
		switch k.(type) {
		case *rsa.PublicKey:
			alg = jwt.SigningMethodRS256.Alg()
		case *ecdsa.PublicKey:
			alg = jwt.SigningMethodES256.Alg()
		}
		key = k
	default:
		return nil, errors.New("identity: no USER_JWT_SECRET or USER_JWT_PUBLIC_KEY")
	}
	opts := []jwt.ParserOption{
		// Only the algorithm of the configured key: no "none", no HS256
		// signed with a public key.
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithJSONNumber(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{parser: jwt.NewParser(opts...), key: key, claim: cfg.Claim}, nil
}

// Error is a token that was refused; its message says why, for the 401 body.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// UserID verifies token and returns its user id claim.
func (v *Verifier) UserID(token string) (string, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return "", &Error{Reason: reason(err)}
	}
	id, ok := claimString(claims[v.claim])
	if !ok || id == "" {
		return "", &Error{Reason: fmt.Sprintf("token has no %q claim with the user id", v.claim)}
	}
	return id, nil
}

func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "token is not a JWT"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "token signature or algorithm is not accepted"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "token has no exp claim"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "token issuer is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "token audience is not accepted"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token signature or algorithm is not accepted"
	}
	return "token is not valid"
}

// claimString reads a user id claim: a string, or an integer number.
func claimString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), true
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return x.String(), true
		}
	}
	return "", false
}
