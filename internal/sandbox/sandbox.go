// Package sandbox is a stand-in for WeChat's server APIs that behaves like
// them, errors included: login codes that work once and expire, stable and
// legacy access tokens with WeChat's rolling and invalidation rules,
// subscribe-message sends checked against templates, value rules and the
// user's one-time grants, and the order shipping service's uploads,
// receipt reminders and order queries on WeChat Pay payments. Control
// endpoints under /sandbox/ play the user's side (wx.login, accepting a
// subscription, paying, confirming receipt), inject faults at run time and
// show what the user's phone would have received.
//
// It is for tests and the dev stack; it keeps everything in memory.
package sandbox

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Config sets up a Sandbox. AppID, AppSecret and at least one template are
// required: they are the primary app's.
type Config struct {
	AppID     string
	AppSecret string
	Templates []Template
	// Apps are the mini programs the sandbox plays besides the primary one.
	Apps []App
	// TokenLifetime is how long an access_token lives (WeChat: 7200 s). Tests
	// set it to seconds.
	TokenLifetime time.Duration
	// TokenOverlap is how long before expiry the stable token rolls, and how
	// long the previous legacy token keeps working (WeChat: 5 minutes).
	// Clamped to half of TokenLifetime.
	TokenOverlap time.Duration
	// CodeLifetime is how long a wx.login code can be exchanged (WeChat: 5 minutes).
	CodeLifetime time.Duration
	// Quotas are WeChat's call limits; zero fields take WeChat's figures.
	Quotas Quotas
	// Faults are the faults in force at start; SetFaults changes them.
	Faults Faults
	// MaxMessages bounds how many delivered messages are kept for inspection
	// (the oldest are dropped; counts are kept). Default 100,000.
	MaxMessages int
	// Seed makes fault draws repeatable; 0 draws a random seed.
	Seed uint64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives one debug line per WeChat call; slog.Default when nil.
	Logger *slog.Logger
}

// Quotas are WeChat's published call limits.
type Quotas struct {
	StableTokenPerMinute int           // 10,000
	StableTokenPerDay    int           // 500,000
	LegacyTokenPerDay    int           // 2,000
	ForceRefreshPerDay   int           // 20
	ForceRefreshInterval time.Duration // 30 s
	SendPerDay           int           // 10,000,000
}

func (q Quotas) withDefaults() Quotas {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&q.StableTokenPerMinute, 10_000)
	def(&q.StableTokenPerDay, 500_000)
	def(&q.LegacyTokenPerDay, 2_000)
	def(&q.ForceRefreshPerDay, 20)
	def(&q.SendPerDay, 10_000_000)
	if q.ForceRefreshInterval <= 0 {
		q.ForceRefreshInterval = 30 * time.Second
	}
	return q
}

// Sandbox is an http.Handler serving WeChat's endpoints and the /sandbox/ controls.
type Sandbox struct {
	// pushing tracks pushes in flight (WaitPushes).
	pushing sync.WaitGroup

	cfg Config
	log *slog.Logger
	mux *http.ServeMux
	// primary is the app of Config.AppID; apps holds it and Config.Apps by
	// appid, appIDs their appids in order. Fixed once New returns.
	primary *MiniProgram
	apps    map[string]*MiniProgram
	appIDs  []string

	mu     sync.Mutex
	rng    *rand.Rand
	faults Faults
	calls  map[string]*CallCount
	// nextMsgID is the next msgid, unique across the apps as WeChat's are.
	nextMsgID uint64
}

// New checks cfg and returns a Sandbox.
func New(cfg Config) (*Sandbox, error) {
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 7200 * time.Second
	}
	if cfg.TokenLifetime < time.Second {
		return nil, fmt.Errorf("sandbox: TokenLifetime %s is under a second (expires_in is whole seconds)", cfg.TokenLifetime)
	}
	if cfg.TokenOverlap <= 0 {
		cfg.TokenOverlap = 5 * time.Minute
	}
	cfg.TokenOverlap = min(cfg.TokenOverlap, cfg.TokenLifetime/2)
	if cfg.CodeLifetime <= 0 {
		cfg.CodeLifetime = 5 * time.Minute
	}
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = 100_000
	}
	cfg.Quotas = cfg.Quotas.withDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Faults.validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Sandbox{
		cfg:       cfg,
		log:       cfg.Logger.With(slog.String("component", "wechat_sandbox")),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		faults:    cfg.Faults,
		calls:     make(map[string]*CallCount),
		nextMsgID: firstMsgID(seed),
	}
	primary, err := newMiniProgram(s, cfg.AppID, cfg.AppSecret, cfg.Templates, nil)
	if err != nil {
		return nil, err
	}
	s.primary, s.apps, s.appIDs = primary, map[string]*MiniProgram{cfg.AppID: primary}, []string{cfg.AppID}
	if err := s.addApps(cfg.Apps); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	m.Handle("GET /sns/jscode2session", s.wechat(EndpointCode2Session, s.code2Session))
	m.Handle("POST /cgi-bin/stable_token", s.wechat(EndpointStableToken, s.stableToken))
	m.Handle("GET /cgi-bin/token", s.wechat(EndpointToken, s.legacyToken))
	m.Handle("POST /cgi-bin/message/subscribe/send", tokenAPI(s, EndpointSend, (*MiniProgram).sendLocked))
	m.Handle("POST /wxa/sec/order/upload_shipping_info", tokenAPI(s, EndpointUploadShipping, (*MiniProgram).uploadShippingLocked))
	m.Handle("POST /wxa/sec/order/notify_confirm_receive", tokenAPI(s, EndpointNotifyConfirmReceive, (*MiniProgram).notifyConfirmReceiveLocked))
	m.Handle("POST /wxa/sec/order/get_order", tokenAPI(s, EndpointGetOrder, (*MiniProgram).getOrderLocked))

	m.HandleFunc("POST /sandbox/login", s.handleMintCode)
	m.HandleFunc("POST /sandbox/subscriptions", s.handleSubscribe)
	m.HandleFunc("GET /sandbox/messages", s.handleMessages)
	m.HandleFunc("GET /sandbox/calls", s.handleCalls)
	m.HandleFunc("GET /sandbox/faults", s.handleGetFaults)
	m.HandleFunc("PUT /sandbox/faults", s.handlePutFaults)
	m.HandleFunc("POST /sandbox/token/retire", s.handleRetire)
	m.HandleFunc("POST /sandbox/orders", orderControl(s, createOrder))
	m.HandleFunc("GET /sandbox/orders", s.handleGetOrder)
	m.HandleFunc("GET /sandbox/orders/messages", s.handleOrderMessages)
	m.HandleFunc("POST /sandbox/orders/confirm", orderControl(s, confirmReceipt))
	m.HandleFunc("POST /sandbox/orders/settle", orderControl(s, settle))
	m.HandleFunc("POST /sandbox/orders/refund", orderControl(s, refund))
	m.HandleFunc("POST /sandbox/orders/remind_shipping", orderControl(s, remindShipping))
	m.HandleFunc("POST /sandbox/orders/remind_access_api", s.handleRemindAccessAPI)
	s.mux = m
}

// ServeHTTP serves WeChat's endpoints and the /sandbox/ controls.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// now reads the clock; callers hold s.mu or not, it does not matter.
func (s *Sandbox) now() time.Time { return s.cfg.Now() }
