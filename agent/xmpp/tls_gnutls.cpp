#include "agent/xmpp/tls_gnutls.h"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

namespace imwatch::agent {

namespace {

constexpr std::string_view kPinPrefix = "sha256:";
constexpr size_t kSha256Size = 32;

// Owns a gnutls_x509_crt_t for the span of one function.
class Certificate {
 public:
  Certificate() { ok_ = gnutls_x509_crt_init(&crt_) == 0; }
  ~Certificate() {
    if (ok_) gnutls_x509_crt_deinit(crt_);
  }
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;
  bool import(const gnutls_datum_t& data, gnutls_x509_crt_fmt_t format) {
    return ok_ && gnutls_x509_crt_import(crt_, &data, format) == 0;
  }
  gnutls_x509_crt_t get() const { return crt_; }

 private:
  gnutls_x509_crt_t crt_{};
  bool ok_ = false;
};

std::string datum_string(const gnutls_datum_t& d) { return std::string(reinterpret_cast<const char*>(d.data), d.size); }

// SHA-256 over the DER SubjectPublicKeyInfo: the same bytes `openssl pkey
// -pubin -outform der` hashes, so admins can compute pins with openssl.
std::optional<std::string> spki_sha256(gnutls_x509_crt_t crt) {
  gnutls_pubkey_t key;
  if (gnutls_pubkey_init(&key) != 0) return std::nullopt;
  std::optional<std::string> result;
  gnutls_datum_t der{};
  if (gnutls_pubkey_import_x509(key, crt, 0) == 0 && gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &der) == 0) {
    unsigned char digest[kSha256Size];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest) == 0) {
      result = std::string(reinterpret_cast<const char*>(digest), sizeof digest);
    }
    gnutls_free(der.data);
  }
  gnutls_pubkey_deinit(key);
  return result;
}

std::optional<std::string> base64_encode(const std::string& raw) {
  gnutls_datum_t in{reinterpret_cast<unsigned char*>(const_cast<char*>(raw.data())), static_cast<unsigned>(raw.size())};
  gnutls_datum_t out{};
  if (gnutls_base64_encode2(&in, &out) != 0) return std::nullopt;
  std::string s = datum_string(out);
  gnutls_free(out.data);
  return s;
}

std::optional<std::string> base64_decode(const std::string& text) {
  gnutls_datum_t in{reinterpret_cast<unsigned char*>(const_cast<char*>(text.data())),
                    static_cast<unsigned>(text.size())};
  gnutls_datum_t out{};
  if (gnutls_base64_decode2(&in, &out) != 0) return std::nullopt;
  std::string s = datum_string(out);
  gnutls_free(out.data);
  return s;
}

std::string utc_date(time_t t) {
  struct tm tm {};
  if (t == static_cast<time_t>(-1) || !gmtime_r(&t, &tm)) return "an unknown date";
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// The names a certificate is valid for, as an admin would want to read them
// next to "expected test.local": DNS and IP subject alternative names, or the
// common name when there are none.
std::string certificate_names(gnutls_x509_crt_t crt) {
  std::vector<std::string> names;
  for (unsigned seq = 0;; ++seq) {
    std::vector<char> buf(256);
    size_t size = buf.size();
    unsigned critical = 0;
    int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf.data(), &size, &critical);
    if (type == GNUTLS_E_SHORT_MEMORY_BUFFER) {
      buf.resize(size + 1);
      size = buf.size();
      type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf.data(), &size, &critical);
    }
    if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    if (type < 0) continue;  // one unreadable entry should not hide the rest
    if (type == GNUTLS_SAN_DNSNAME) {
      names.emplace_back(buf.data(), strnlen(buf.data(), size));
    } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
      char text[INET6_ADDRSTRLEN] = {};
      if (inet_ntop(size == 4 ? AF_INET : AF_INET6, buf.data(), text, sizeof text)) {
        names.emplace_back(text);
      }
    }
  }
  if (names.empty()) {
    char cn[256] = {};
    size_t size = sizeof cn;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size) == 0) {
      names.emplace_back(cn, strnlen(cn, size));
    }
  }
  if (names.empty()) return "no name";
  std::string joined;
  for (const auto& n : names) joined += (joined.empty() ? "" : ", ") + n;
  return joined;
}

std::string distinguished_name(gnutls_x509_crt_t crt, bool issuer) {
  gnutls_datum_t dn{};
  int rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) : gnutls_x509_crt_get_dn3(crt, &dn, 0);
  if (rc != 0) return {};
  std::string s = datum_string(dn);
  gnutls_free(dn.data);
  return s;
}

int gloox_status(unsigned status) {
  int s = gloox::CertOk;
  if (status & GNUTLS_CERT_INVALID) s |= gloox::CertInvalid;
  if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) s |= gloox::CertSignerUnknown;
  if (status & GNUTLS_CERT_REVOKED) s |= gloox::CertRevoked;
  if (status & GNUTLS_CERT_EXPIRED) s |= gloox::CertExpired;
  if (status & GNUTLS_CERT_NOT_ACTIVATED) s |= gloox::CertNotActive;
  if (status & GNUTLS_CERT_UNEXPECTED_OWNER) s |= gloox::CertWrongPeer;
  if (status & GNUTLS_CERT_SIGNER_NOT_CA) s |= gloox::CertSignerNotCa;
  return s;
}

}  // namespace

struct TlsGnutls::Impl {
  explicit Impl(TlsGnutls& o) : owner(o) {}

  TlsGnutls& owner;
  gnutls_certificate_credentials_t credentials = nullptr;
  gnutls_priority_t priority = nullptr;
  gnutls_session_t session = nullptr;
  // Bumped by every cleanup(): a handler called from here may disconnect the
  // client, which tears the session down (and may even start a new one)
  // under our feet; comparing generations tells us to stop touching it.
  unsigned generation = 0;
  bool broken = false;   // fatal record error: ignore input until cleanup()
  std::string pin;       // raw 32-byte digest, empty when not pinning
  std::string incoming;  // ciphertext received, not yet pulled by GnuTLS
  std::string outgoing;  // ciphertext GnuTLS produced, not yet handed to gloox
  std::vector<char> record = std::vector<char>(16384);

  // GnuTLS never calls gloox directly: push only queues, flush() delivers
  // once GnuTLS has returned. Otherwise a failed socket write could make
  // gloox disconnect and cleanup() free the session inside a GnuTLS call.
  static ssize_t push(gnutls_transport_ptr_t ptr, const void* data, size_t len) {
    auto* self = static_cast<Impl*>(ptr);
    self->outgoing.append(static_cast<const char*>(data), len);
    return static_cast<ssize_t>(len);
  }

  static ssize_t pull(gnutls_transport_ptr_t ptr, void* data, size_t len) {
    auto* self = static_cast<Impl*>(ptr);
    if (self->incoming.empty()) {
      gnutls_transport_set_errno(self->session, EAGAIN);
      return -1;
    }
    size_t n = std::min(len, self->incoming.size());
    memcpy(data, self->incoming.data(), n);
    self->incoming.erase(0, n);
    return static_cast<ssize_t>(n);
  }

  // Without this GnuTLS' default treats the transport pointer as a socket
  // and select()s on it, which is garbage for our in-memory transport.
  static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned /*ms*/) {
    return static_cast<Impl*>(ptr)->incoming.empty() ? 0 : 1;
  }

  static int verify(gnutls_session_t session) {
    auto* self = static_cast<Impl*>(gnutls_session_get_ptr(session));
    std::string reason = self->check_certificate();
    if (reason.empty()) return 0;
    self->owner.failure_reason_ = "TLS certificate of " + self->owner.options_.domain + " refused: " + reason;
    self->owner.certificate_refused_ = true;
    return GNUTLS_E_CERTIFICATE_ERROR;  // GnuTLS aborts with an alert
  }

  // Empty when the certificate is accepted, else why not. Also fills gloox's
  // CertInfo so onTLSConnect() listeners see real data.
  std::string check_certificate() {
    gloox::CertInfo& info = owner.m_certInfo;
    info = gloox::CertInfo{};
    info.status = gloox::CertInvalid;
    unsigned count = 0;
    const gnutls_datum_t* peers = gnutls_certificate_get_peers(session, &count);
    if (!peers || count == 0) return "the server sent no certificate";
    Certificate leaf;
    if (!leaf.import(peers[0], GNUTLS_X509_FMT_DER)) return "the certificate cannot be parsed";
    info.server = distinguished_name(leaf.get(), false);
    info.issuer = distinguished_name(leaf.get(), true);
    const time_t not_before = gnutls_x509_crt_get_activation_time(leaf.get());
    const time_t not_after = gnutls_x509_crt_get_expiration_time(leaf.get());
    info.date_from = static_cast<int>(not_before);
    info.date_to = static_cast<int>(not_after);

    if (!pin.empty()) {
      // The pin is the whole trust decision: the admin vouched for this key.
      std::optional<std::string> digest = spki_sha256(leaf.get());
      if (!digest) return "its public key cannot be read";
      if (gnutls_memcmp(digest->data(), pin.data(), kSha256Size) != 0) {
        return "public key does not match pin";
      }
      info.status = gloox::CertOk;
      info.chain = true;
      return {};
    }

    gnutls_typed_vdata_st expected{};
    expected.type = GNUTLS_DT_DNS_HOSTNAME;
    expected.data = reinterpret_cast<unsigned char*>(owner.options_.domain.data());
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers(session, &expected, 1, &status);
    if (rc != 0) return std::string("verification failed: ") + gnutls_strerror(rc);
    info.status = gloox_status(status);
    info.chain = !(status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNATURE_FAILURE | GNUTLS_CERT_SIGNER_NOT_CA));
    if (status == 0) return {};
    return refusal(status, leaf.get(), count, not_before, not_after);
  }

  // Why GnuTLS' verification status refuses the certificate, in words an
  // admin can act on ("expired on 2024-01-31; name mismatch (...)").
  std::string refusal(unsigned status, gnutls_x509_crt_t leaf, unsigned count, time_t not_before, time_t not_after) {
    std::vector<std::string> reasons;
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
      bool self_signed = count == 1 && gnutls_x509_crt_check_issuer(leaf, leaf) == 1;
      reasons.push_back(self_signed ? "self-signed" : "not signed by a CA in " + owner.options_.ca_file);
    }
    if (status & GNUTLS_CERT_EXPIRED) reasons.push_back("expired on " + utc_date(not_after));
    if (status & GNUTLS_CERT_NOT_ACTIVATED) {
      reasons.push_back("not valid before " + utc_date(not_before));
    }
    if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
      reasons.push_back("name mismatch (certificate is for " + certificate_names(leaf) + ", expected " +
                        owner.options_.domain + ")");
    }
    if (status & GNUTLS_CERT_REVOKED) reasons.push_back("revoked");
    if (status & GNUTLS_CERT_SIGNATURE_FAILURE) reasons.push_back("bad signature");
    if (status & GNUTLS_CERT_SIGNER_NOT_CA) reasons.push_back("signed by a non-CA certificate");
    if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
      reasons.push_back("signed with an insecure algorithm");
    }
    if (reasons.empty()) {
      gnutls_datum_t text{};
      if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
        reasons.push_back(datum_string(text));
        gnutls_free(text.data);
      } else {
        reasons.push_back("not trusted");
      }
    }
    std::string joined;
    for (const auto& r : reasons) joined += (joined.empty() ? "" : "; ") + r;
    return joined;
  }

  bool start_session() {
    broken = false;
    incoming.clear();
    outgoing.clear();
    if (gnutls_init(&session, GNUTLS_CLIENT) != 0) {
      session = nullptr;
      return false;
    }
    const std::string& domain = owner.options_.domain;
    if (gnutls_priority_set(session, priority) != 0 ||
        gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials) != 0 ||
        gnutls_server_name_set(session, GNUTLS_NAME_DNS, domain.data(), domain.size()) != 0) {
      gnutls_deinit(session);
      session = nullptr;
      return false;
    }
    gnutls_session_set_ptr(session, this);
    gnutls_transport_set_ptr(session, this);
    gnutls_transport_set_push_function(session, &Impl::push);
    gnutls_transport_set_pull_function(session, &Impl::pull);
    gnutls_transport_set_pull_timeout_function(session, &Impl::pull_timeout);
    return true;
  }

  void end_session() {
    ++generation;
    if (session) gnutls_deinit(session);
    session = nullptr;
    incoming.clear();
    outgoing.clear();
    broken = false;
  }

  // After gnutls_record_recv() said GNUTLS_E_AGAIN: whether to read again.
  // AGAIN only means "no application data in what was processed": a TLS 1.3
  // session ticket can be followed by a record that is still in `incoming`
  // or already decrypted inside GnuTLS. Reading again is worth it only when
  // the last call consumed or decrypted something (else it would spin).
  bool more_to_read(size_t before_incoming, size_t before_pending) const {
    const size_t pending = gnutls_record_check_pending(session);
    const bool progress = incoming.size() != before_incoming || pending != before_pending;
    return (!incoming.empty() || pending > 0) && progress;
  }

  // Hands queued ciphertext to gloox. False when that tore the session down.
  bool flush() {
    if (outgoing.empty()) return true;
    const unsigned gen = generation;
    std::string data;
    data.swap(outgoing);
    if (owner.m_handler) owner.m_handler->handleEncryptedData(&owner, data);
    return gen == generation;
  }
};

TlsGnutls::TlsGnutls(gloox::TLSHandler* handler, TlsOptions options)
    : gloox::TLSBase(handler, options.domain), impl_(std::make_unique<Impl>(*this)), options_(std::move(options)) {}

bool TlsGnutls::setup_failed() const { return !impl_->credentials; }

TlsGnutls::~TlsGnutls() {
  impl_->end_session();
  if (impl_->priority) gnutls_priority_deinit(impl_->priority);
  if (impl_->credentials) gnutls_certificate_free_credentials(impl_->credentials);
}

bool TlsGnutls::init(const std::string&, const std::string&, const gloox::StringList&) {
  failure_reason_.clear();
  certificate_refused_ = false;
  if (impl_->credentials) return true;  // already initialised; the CA file is read once
  if (options_.domain.empty()) {
    failure_reason_ = "TLS setup failed: no XMPP domain to check the certificate against";
    return false;
  }
  if (!options_.pin.empty()) {
    std::optional<std::string> raw;
    if (options_.pin.starts_with(kPinPrefix)) {
      raw = base64_decode(options_.pin.substr(kPinPrefix.size()));
    }
    if (!raw || raw->size() != kSha256Size) {
      failure_reason_ = "TLS setup failed: invalid pin '" + options_.pin +
                        "' (expected sha256: followed by the base64 of a 32-byte SHA-256)";
      return false;
    }
    impl_->pin = *raw;
  }
  const char* prio = options_.max_version == TlsMaxVersion::tls13 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
                                                                  : "NORMAL:-VERS-ALL:+VERS-TLS1.2";
  gnutls_certificate_credentials_t cred = nullptr;
  if (gnutls_priority_init(&impl_->priority, prio, nullptr) != 0 ||
      gnutls_certificate_allocate_credentials(&cred) != 0) {
    failure_reason_ = "TLS setup failed: GnuTLS could not be initialised";
    return false;
  }
  // With a pin the CA list plays no part in the decision, so a missing CA
  // file must not stop a pinned connection.
  if (impl_->pin.empty()) {
    int n = gnutls_certificate_set_x509_trust_file(cred, options_.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
    if (n <= 0) {
      failure_reason_ = "TLS setup failed: no CA certificate could be loaded from " + options_.ca_file +
                        (n < 0 ? std::string(" (") + gnutls_strerror(n) + ")" : std::string());
      gnutls_certificate_free_credentials(cred);
      return false;
    }
  }
  gnutls_certificate_set_verify_function(cred, &Impl::verify);
  impl_->credentials = cred;
  m_valid = true;
  return true;
}

bool TlsGnutls::handshake() {
  if (!m_handler) return false;
  // Set up again at each attempt while it fails: a CA file that was missing
  // may have been installed since (the transport retries at its slowest pace).
  if (!impl_->credentials && !init()) {
    m_handler->handleHandshakeResult(this, false, m_certInfo);
    return false;
  }
  if (!impl_->session) {
    failure_reason_.clear();
    certificate_refused_ = false;
    m_certInfo = gloox::CertInfo{};
    if (!impl_->start_session()) {
      failure_reason_ = "TLS setup failed: GnuTLS session could not be created";
      m_handler->handleHandshakeResult(this, false, m_certInfo);
      return false;
    }
  }
  int rc;
  do {
    rc = gnutls_handshake(impl_->session);
  } while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc));
  if (!impl_->flush()) return false;
  if (rc == GNUTLS_E_AGAIN) return true;  // more handshake bytes are needed
  if (rc < 0) {
    if (!certificate_refused_) {
      failure_reason_ = "TLS handshake with " + options_.domain + " failed: " + gnutls_strerror(rc);
    }
    m_valid = false;
    // gloox answers by disconnecting with ConnTlsFailed, which calls
    // cleanup(); nothing here may touch the session afterwards.
    m_handler->handleHandshakeResult(this, false, m_certInfo);
    return false;
  }
  m_secure = true;
  m_valid = true;
  if (const char* s = gnutls_protocol_get_name(gnutls_protocol_get_version(impl_->session))) {
    m_certInfo.protocol = s;
  }
  if (const char* s = gnutls_cipher_get_name(gnutls_cipher_get(impl_->session))) {
    m_certInfo.cipher = s;
  }
  if (const char* s = gnutls_mac_get_name(gnutls_mac_get(impl_->session))) m_certInfo.mac = s;
  m_certInfo.compression = "NULL";
  m_handler->handleHandshakeResult(this, true, m_certInfo);
  return true;
}

bool TlsGnutls::encrypt(const std::string& data) {
  if (!m_secure || !impl_->session || impl_->broken) return false;
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t rc = gnutls_record_send(impl_->session, data.data() + sent, data.size() - sent);
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) continue;  // push never blocks
    if (rc < 0) {
      impl_->broken = true;
      failure_reason_ = "TLS error while sending to " + options_.domain + ": " + gnutls_strerror(static_cast<int>(rc));
      impl_->flush();
      return false;
    }
    sent += static_cast<size_t>(rc);
  }
  return impl_->flush();
}

namespace {
// A gnutls_record_recv() result after which reading simply goes on: an
// interrupted call, a renegotiation request (a client may ignore it, and
// this one does), a warning alert.
bool read_again(ssize_t rc) {
  return rc == GNUTLS_E_INTERRUPTED || rc == GNUTLS_E_REHANDSHAKE ||
         (rc < 0 && !gnutls_error_is_fatal(static_cast<int>(rc)));
}
}  // namespace

int TlsGnutls::decrypt(const std::string& data) {
  const int consumed = static_cast<int>(data.size());
  if (impl_->broken) return consumed;
  if (!impl_->session && m_secure) return consumed;
  impl_->incoming += data;
  const unsigned gen = impl_->generation;
  if (!m_secure) {
    if (!handshake() || gen != impl_->generation || !m_secure) return consumed;
  }
  // Read every complete record (see more_to_read() for when AGAIN is not the end).
  for (;;) {
    if (gen != impl_->generation || !impl_->session) return consumed;
    const size_t before_incoming = impl_->incoming.size();
    const size_t before_pending = gnutls_record_check_pending(impl_->session);
    ssize_t rc = gnutls_record_recv(impl_->session, impl_->record.data(), impl_->record.size());
    if (!impl_->flush()) return consumed;  // e.g. a key update answered
    if (rc > 0) {
      m_handler->handleDecryptedData(this, std::string(impl_->record.data(), rc));
      continue;
    }
    if (rc == GNUTLS_E_AGAIN) {
      if (impl_->more_to_read(before_incoming, before_pending)) continue;
      return consumed;
    }
    if (read_again(rc)) continue;
    if (rc == 0) return consumed;  // close_notify; the TCP close that follows ends the stream
    impl_->broken = true;
    failure_reason_ = "TLS error from " + options_.domain + ": " + gnutls_strerror(static_cast<int>(rc));
    return consumed;
  }
}

void TlsGnutls::cleanup() {
  impl_->end_session();
  m_secure = false;
  m_valid = impl_->credentials != nullptr;
}

bool TlsGnutls::hasChannelBinding() const {
  return m_secure && impl_->session && gnutls_protocol_get_version(impl_->session) == GNUTLS_TLS1_2;
}

const std::string TlsGnutls::channelBinding() const {
  if (!hasChannelBinding()) return {};
  gnutls_datum_t cb{};
  if (gnutls_session_channel_binding(impl_->session, GNUTLS_CB_TLS_UNIQUE, &cb) != 0) return {};
  std::string s = datum_string(cb);
  gnutls_free(cb.data);
  return s;
}

void TlsGnutls::setCACerts(const gloox::StringList&) {}

void TlsGnutls::setClientCert(const std::string&, const std::string&) {}

std::string TlsGnutls::protocol() const {
  if (!impl_->session || !m_secure) return {};
  const char* name = gnutls_protocol_get_name(gnutls_protocol_get_version(impl_->session));
  return name ? name : "";
}

std::optional<std::string> pin_of_pem_certificate(const std::string& path, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<std::string> {
    if (error) *error = path + ": " + why;
    return std::nullopt;
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(std::string("cannot open: ") + strerror(errno));
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Certificate crt;
  gnutls_datum_t data{reinterpret_cast<unsigned char*>(pem.data()), static_cast<unsigned>(pem.size())};
  if (!crt.import(data, GNUTLS_X509_FMT_PEM)) return fail("no PEM certificate found");
  std::optional<std::string> digest = spki_sha256(crt.get());
  if (!digest) return fail("cannot read the certificate's public key");
  std::optional<std::string> b64 = base64_encode(*digest);
  if (!b64) return fail("cannot encode the pin");
  return std::string(kPinPrefix) + *b64;
}

}  // namespace imwatch::agent
