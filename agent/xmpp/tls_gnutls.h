// gloox's TLSBase implemented directly on GnuTLS, so that the agent decides
// whether a server certificate is trusted (gloox never refuses one by itself,
// and Client::setCACerts() has no effect with Debian's GnuTLS build; see
// docs/xmpp.md).
//
// A certificate is accepted when either
//   - no pin is configured, it chains to a CA in `ca_file`, is within its
//     validity dates and names the expected XMPP domain (GnuTLS' RFC 6125
//     hostname check), or
//   - a pin is configured and the SHA-256 of the certificate's public key
//     (DER SubjectPublicKeyInfo) equals it. A pin replaces the CA check: it
//     accepts a self-signed certificate and refuses even a CA-valid one with
//     another key.
// Refusal aborts the handshake inside GnuTLS, before any XMPP byte (and so
// before the password) is sent; gloox then disconnects with ConnTlsFailed and
// failure_reason() says why in words an administrator can act on.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <gloox/tlsbase.h>

namespace imwatch::agent {

enum class TlsMaxVersion { tls12, tls13 };

struct TlsOptions {
  // The XMPP domain the certificate must name (the JID's domain, not the
  // address dialled: tests dial 127.0.0.1 for domain test.local).
  std::string domain;
  std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
  // Empty, or "sha256:BASE64" as printed by
  //   openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
  //   openssl dgst -sha256 -binary | base64
  std::string pin;
  // TLS 1.2 is always allowed, older versions never; tls12 exists for tests
  // and for servers whose TLS 1.3 is broken.
  TlsMaxVersion max_version = TlsMaxVersion::tls13;
};

class TlsGnutls final : public gloox::TLSBase {
 public:
  // `handler` is the gloox::Client the object is given to with
  // setEncryptionImpl() (which then owns and deletes it).
  TlsGnutls(gloox::TLSHandler* handler, TlsOptions options);
  ~TlsGnutls() override;
  TlsGnutls(const TlsGnutls&) = delete;
  TlsGnutls& operator=(const TlsGnutls&) = delete;

  // Loads the CA file and checks the pin. gloox only calls init() on its own
  // default implementation, so the owner must call this once before
  // connecting; false means unusable, failure_reason() says why. The
  // arguments are gloox's and ignored (client certificates are not used).
  bool init(const std::string& client_key = gloox::EmptyString, const std::string& client_certs = gloox::EmptyString,
            const gloox::StringList& cacerts = gloox::StringList()) override;

  bool encrypt(const std::string& data) override;
  int decrypt(const std::string& data) override;
  // Called by gloox at every disconnect: drops the session, keeps the
  // credentials, so the same object serves the next connect().
  void cleanup() override;
  bool handshake() override;

  // SCRAM-SHA-1-PLUS in gloox 1.0.24 only knows tls-unique, which TLS 1.3
  // does not define; binding is offered only on TLS 1.2 sessions.
  bool hasChannelBinding() const override;
  const std::string channelBinding() const override;

  // gloox's CA hook; ignored on purpose, the CA file comes from TlsOptions.
  void setCACerts(const gloox::StringList& cacerts) override;
  void setClientCert(const std::string& client_key, const std::string& client_certs) override;

  // Why the last init() or handshake failed, e.g. "TLS certificate of
  // test.local refused: expired on 2024-01-01". Empty after a success; reset
  // when a new handshake starts.
  const std::string& failure_reason() const { return failure_reason_; }
  // True when the last handshake failed because the certificate was refused
  // (as opposed to a protocol or I/O error).
  bool certificate_refused() const { return certificate_refused_; }
  // True while init() has not succeeded (no CA could be loaded, a bad pin):
  // nothing a quick retry fixes.
  bool setup_failed() const;
  // "TLS1.3", "TLS1.2" of the current session, empty when none.
  std::string protocol() const;

 private:
  // GnuTLS handles and callbacks; kept out of the header so only this
  // file's users that need gloox see gloox, and none sees GnuTLS.
  struct Impl;
  std::unique_ptr<Impl> impl_;
  TlsOptions options_;
  std::string failure_reason_;
  bool certificate_refused_ = false;
};

// SHA-256 pin ("sha256:BASE64") of the public key of the first certificate in
// a PEM file. On failure returns nullopt and, if `error` is given, a message
// naming the file.
std::optional<std::string> pin_of_pem_certificate(const std::string& path, std::string* error = nullptr);

}  // namespace imwatch::agent
