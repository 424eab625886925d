package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/wfsh/wfsh/plugins/sdk"
)

// message is an e-mail to send, its addresses checked.
type message struct {
	from    *mail.Address
	to      []*mail.Address
	subject string
	body    string
}

func email(ctx context.Context, c *sdk.Call) (any, error) {
	m, err := newMessage(c)
	if err != nil {
		return nil, err
	}
	host := c.String("host")
	port := c.Int("port")
	if host == "" || port <= 0 || port > 65535 {
		return nil, errors.New("want a host and a port from 1 to 65535")
	}
	addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
	ctx, cancel, err := deadline(ctx, c)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := send(ctx, c, addr, host, m); err != nil {
		return nil, fmt.Errorf("%s: %v", addr, err)
	}
	c.Logf("sent to %d recipient(s) through %s", len(m.to), addr)
	return nil, nil
}

func newMessage(c *sdk.Call) (*message, error) {
	from, err := mail.ParseAddress(c.String("sender"))
	if err != nil {
		return nil, fmt.Errorf("sender: %v", err)
	}
	var tos []string
	switch v := c.Args["to"].(type) {
	case string:
		tos = []string{v}
	default:
		for _, x := range c.List("to") {
			s, ok := x.(string)
			if !ok {
				return nil, errors.New("to: want an address or a list of addresses")
			}
			tos = append(tos, s)
		}
	}
	if len(tos) == 0 {
		return nil, errors.New("to: want an address or a list of addresses")
	}
	m := &message{from: from, subject: c.String("subject"), body: c.String("body")}
	for _, s := range tos {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("to: %q: %v", s, err)
		}
		m.to = append(m.to, a)
	}
	if err := noBreaks("subject", m.subject); err != nil {
		return nil, err
	}
	return m, nil
}

// send speaks SMTP to addr: STARTTLS (unless starttls=False), AUTH PLAIN
// when a username is given, then the message. ctx's end closes the
// connection, which ends any exchange under way.
func send(ctx context.Context, c *sdk.Call, addr, host string, m *message) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := startTLS(cl, c, host); err != nil {
		return err
	}
	if user := c.String("username"); user != "" {
		// net/smtp's PlainAuth refuses to send a password in clear, but
		// to localhost.
		if err := cl.Auth(smtp.PlainAuth("", user, c.String("password"), host)); err != nil {
			return fmt.Errorf("login as %s: %v", user, err)
		}
	}
	if err := cl.Mail(m.from.Address); err != nil {
		return err
	}
	for _, a := range m.to {
		if err := cl.Rcpt(a.Address); err != nil {
			return fmt.Errorf("recipient %s: %v", a.Address, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(m.bytes(time.Now())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

func startTLS(cl *smtp.Client, c *sdk.Call, host string) error {
	if starttls, _ := c.Args["starttls"].(bool); !starttls {
		return nil
	}
	if ok, _ := cl.Extension("STARTTLS"); !ok {
		return errors.New("the server does not offer STARTTLS (starttls=False sends in clear, for a relay on a trusted network only)")
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if pem := c.String("ca_cert"); pem != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(pem)) {
			return errors.New("ca_cert: no PEM certificate in it")
		}
		cfg.RootCAs = pool
	}
	if err := cl.StartTLS(cfg); err != nil {
		return fmt.Errorf("STARTTLS: %v", err)
	}
	return nil
}

// bytes is the message as sent: headers, then the body as quoted-printable
// UTF-8 text.
func (m *message) bytes(now time.Time) []byte {
	var b bytes.Buffer
	to := make([]string, len(m.to))
	for i, a := range m.to {
		to[i] = a.String()
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	fmt.Fprintf(&b, "From: %s\r\n", m.from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@wfsh>\r\n", hex.EncodeToString(id))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.body)) // its line breaks become CRLF
	_ = qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
