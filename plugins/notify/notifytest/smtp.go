// Package notifytest runs, for tests, the servers @notify talks to: an
// SMTP server on 127.0.0.1 that speaks STARTTLS with a certificate made
// for the test and records what it receives.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the server accepted.
type Mail struct {
	From string
	To   []string
	Data string
	// TLS tells whether the message came over TLS; User is who logged in
	// ("" for nobody) and Password what they gave.
	TLS            bool
	User, Password string
}

// SMTP is a running test server.
type SMTP struct {
	Addr string // 127.0.0.1:port
	Host string // "127.0.0.1", the name its certificate is for
	Port int
	// CertPEM is the server's self-signed certificate, for ca_cert.
	CertPEM string

	mu    sync.Mutex
	mails []Mail
	users map[string]string
}

// Options configure StartSMTP.
type Options struct {
	// NoTLS makes a server that does not offer STARTTLS.
	NoTLS bool
	// Users may log in with their passwords; none: no AUTH.
	Users map[string]string
}

// StartSMTP starts a server that lives as long as the test.
func StartSMTP(t testing.TB, opts Options) *SMTP {
	t.Helper()
	s := &SMTP{Host: "127.0.0.1", users: opts.Users}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if !opts.NoTLS {
		cert, certPEM := Certificate(t, s.Host)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.CertPEM = certPEM
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Mails returns the messages accepted so far.
func (s *SMTP) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// Certificate makes a self-signed certificate for the IP address host,
// valid for an hour, and returns it with its PEM.
func Certificate(t testing.TB, host string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		IPAddresses: []net.IP{net.ParseIP(host)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

type session struct {
	s    *SMTP
	c    *smtp.Conn
	mail Mail
}

func (x *session) AuthMechanisms() []string {
	if x.s.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := x.s.users[user]; !ok || want != pass {
			return errors.New("invalid credentials")
		}
		x.mail.User, x.mail.Password = user, pass
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.users != nil && x.mail.User == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	x.mail.From = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.mail.To = append(x.mail.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := x.mail
	m.Data = string(b)
	_, m.TLS = x.c.TLSConnectionState()
	x.s.mu.Lock()
	x.s.mails = append(x.s.mails, m)
	x.s.mu.Unlock()
	return nil
}

func (x *session) Reset() { x.mail = Mail{User: x.mail.User, Password: x.mail.Password} }

func (x *session) Logout() error { return nil }
