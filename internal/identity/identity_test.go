package identity_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"wxnotify/internal/config"
	"wxnotify/internal/identity"
)

var hsKey = strings.Repeat("k", 32)

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t *testing.T, cfg config.UserJWT) *identity.Verifier {
	t.Helper()
	if cfg.Claim == "" {
		cfg.Claim = "sub"
	}
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func pemOf(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestHS256(t *testing.T) {
	t.Parallel()
	v := verifier(t, config.UserJWT{Secret: config.Secret(hsKey), Leeway: time.Second})
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name  string
		token string
		want  string // user id, or the refusal's text
	}{
		{"valid", sign(t, jwt.SigningMethodHS256, []byte(hsKey), jwt.MapClaims{"sub": "user-42", "exp": exp}), "user-42"},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte(hsKey), jwt.MapClaims{"sub": "u", "exp": time.Now().Add(-time.Minute).Unix()}), "token has expired"},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, []byte(hsKey), jwt.MapClaims{"sub": "u", "exp": exp, "nbf": time.Now().Add(time.Minute).Unix()}), "not valid yet"},
		{"no exp", sign(t, jwt.SigningMethodHS256, []byte(hsKey), jwt.MapClaims{"sub": "u"}), "no exp claim"},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), jwt.MapClaims{"sub": "u", "exp": exp}), "signature or algorithm"},
		{"HS512", sign(t, jwt.SigningMethodHS512, []byte(hsKey), jwt.MapClaims{"sub": "u", "exp": exp}), "signature or algorithm"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "u", "exp": exp}), "signature or algorithm"},
		{"no subject", sign(t, jwt.SigningMethodHS256, []byte(hsKey), jwt.MapClaims{"exp": exp}), `no "sub" claim`},
		{"garbage", "not.a.jwt", "not a JWT"},
	} {
		got, err := v.UserID(tc.token)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestPublicKeysAndAlgorithmConfusion(t *testing.T) {
	t.Parallel()
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	exp := time.Now().Add(time.Hour).Unix()

	rv := verifier(t, config.UserJWT{PublicKey: pemOf(t, &rk.PublicKey)})
	if id, err := rv.UserID(sign(t, jwt.SigningMethodRS256, rk, jwt.MapClaims{"sub": "r-1", "exp": exp})); err != nil || id != "r-1" {
		t.Fatalf("RS256: %q, %v", id, err)
	}
	// An HS256 token "signed" with the public key's PEM must not pass.
	forged := sign(t, jwt.SigningMethodHS256, []byte(pemOf(t, &rk.PublicKey)), jwt.MapClaims{"sub": "r-1", "exp": exp})
	if _, err := rv.UserID(forged); err == nil {
		t.Fatal("HS256 token keyed with the RSA public key was accepted")
	}

	ev := verifier(t, config.UserJWT{PublicKey: pemOf(t, &ek.PublicKey)})
	if id, err := ev.UserID(sign(t, jwt.SigningMethodES256, ek, jwt.MapClaims{"sub": "e-1", "exp": exp})); err != nil || id != "e-1" {
		t.Fatalf("ES256: %q, %v", id, err)
	}
	if _, err := ev.UserID(sign(t, jwt.SigningMethodRS256, rk, jwt.MapClaims{"sub": "e-1", "exp": exp})); err == nil {
		t.Fatal("RS256 token accepted by an ES256 verifier")
	}
}

func TestClaimIssuerAudience(t *testing.T) {
	t.Parallel()
	v := verifier(t, config.UserJWT{Secret: config.Secret(hsKey), Claim: "uid", Issuer: "shop-auth", Audience: "wxnotify"})
	exp := time.Now().Add(time.Hour).Unix()
	ok := jwt.MapClaims{"uid": 12345, "iss": "shop-auth", "aud": "wxnotify", "exp": exp}
	if id, err := v.UserID(sign(t, jwt.SigningMethodHS256, []byte(hsKey), ok)); err != nil || id != "12345" {
		t.Fatalf("numeric uid claim: %q, %v", id, err)
	}
	for name, claims := range map[string]jwt.MapClaims{
		"issuer":   {"uid": "u", "iss": "other", "aud": "wxnotify", "exp": exp},
		"audience": {"uid": "u", "iss": "shop-auth", "aud": "other", "exp": exp},
	} {
		if _, err := v.UserID(sign(t, jwt.SigningMethodHS256, []byte(hsKey), claims)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("wrong %s: %v", name, err)
		}
	}
}
