// agent::TlsGnutls against a real prosody: which certificates are accepted,
// which are refused and with what reason, and that one gloox::Client
// survives many reconnects through it.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "agent/xmpp/tls_gnutls.h"
#include "tests/support/prosody_server.h"
#include "tests/support/xmpp_test_client.h"

extern char** environ;

namespace imwatch::test {
namespace {

using agent::TlsMaxVersion;

constexpr char kAdmin[] = "admin@test.local";

// TLS settings that differ from the default (trust the test CA) in one field.
TestClientTls with_ca(const std::string& ca_file) {
  TestClientTls tls;
  tls.ca_file = ca_file;
  return tls;
}
TestClientTls with_pin(const std::string& pin) {
  TestClientTls tls;
  tls.pin = pin;
  return tls;
}
TestClientTls with_max_version(TlsMaxVersion version) {
  TestClientTls tls;
  tls.max_version = version;
  return tls;
}
constexpr char kPassword[] = "correct horse";

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok()) << server_.error();
    ASSERT_TRUE(server_.register_user("admin", kPassword)) << server_.error();
  }

  void start(CertKind kind) {
    server_.use_certificate(kind);
    ASSERT_TRUE(server_.start()) << server_.error();
  }

  // Connects with `tls` and expects the certificate to be refused with
  // exactly `reason` after "TLS certificate of test.local refused: ".
  void expect_refused(const TestClientTls& tls, const std::string& reason) {
    TestClient client(kAdmin, kPassword, server_, tls);
    EXPECT_FALSE(client.connect());
    EXPECT_EQ(client.disconnect_reason(), gloox::ConnTlsFailed);
    EXPECT_TRUE(client.tls_certificate_refused());
    EXPECT_EQ(client.tls_failure(), "TLS certificate of test.local refused: " + reason);
    EXPECT_EQ(client.connect_count(), 0);
  }

  ProsodyServer server_;
};

TEST_F(TlsTest, CaSignedCertificateConnectsWithTls13) {
  start(CertKind::good);
  TestClient client(kAdmin, kPassword, server_);
  ASSERT_TRUE(client.connect()) << "reason " << client.disconnect_reason() << ": " << client.tls_failure();
  EXPECT_EQ(client.tls_protocol(), "TLS1.3");
  EXPECT_EQ(client.tls_failure(), "");
  // The stream really works: a message to ourselves comes back.
  const std::string id = client.send_chat("admin@test.local", "ping through TLS 1.3");
  auto got = client.wait_for_message([&](const ReceivedMessage& m) { return m.id == id; });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->body, "ping through TLS 1.3");
}

TEST_F(TlsTest, CaSignedCertificateConnectsWithTls12) {
  // TLS 1.2 is where gloox may pick SCRAM-SHA-1-PLUS with tls-unique
  // channel binding, so this also checks channelBinding().
  start(CertKind::good);
  TestClient client(kAdmin, kPassword, server_, with_max_version(TlsMaxVersion::tls12));
  ASSERT_TRUE(client.connect()) << "reason " << client.disconnect_reason() << ": " << client.tls_failure();
  EXPECT_EQ(client.tls_protocol(), "TLS1.2");
}

TEST_F(TlsTest, UnrelatedCaIsRefused) {
  start(CertKind::good);
  expect_refused(with_ca(server_.other_ca_file()), "not signed by a CA in " + server_.other_ca_file());
}

TEST_F(TlsTest, DefaultSystemCaBundleDoesNotTrustTheTestCa) {
  start(CertKind::good);
  const std::string system_bundle = agent::TlsOptions{}.ca_file;
  expect_refused(with_ca(system_bundle), "not signed by a CA in " + system_bundle);
}

TEST_F(TlsTest, UnreadableCaFilePreventsConnecting) {
  start(CertKind::good);
  const std::string missing = server_.dir() + "/no-such-ca.pem";
  TestClient client(kAdmin, kPassword, server_, with_ca(missing));
  EXPECT_FALSE(client.connect());
  EXPECT_EQ(client.disconnect_reason(), gloox::ConnTlsNotAvailable);
  EXPECT_NE(client.tls_failure().find("no CA certificate could be loaded from " + missing), std::string::npos)
      << client.tls_failure();
}

TEST_F(TlsTest, WrongNameIsRefused) {
  start(CertKind::wrong_name);
  expect_refused({}, "name mismatch (certificate is for other.example, expected test.local)");
}

TEST_F(TlsTest, SelfSignedWithoutPinIsRefused) {
  start(CertKind::self_signed);
  expect_refused({}, "self-signed");
}

TEST_F(TlsTest, SelfSignedWithMatchingPinConnects) {
  start(CertKind::self_signed);
  const std::string pin = server_.pin_of_server_cert();
  ASSERT_EQ(pin.rfind("sha256:", 0), 0u) << pin;
  TestClient client(kAdmin, kPassword, server_, with_pin(pin));
  EXPECT_TRUE(client.connect()) << "reason " << client.disconnect_reason() << ": " << client.tls_failure();
  EXPECT_EQ(client.tls_failure(), "");
}

TEST_F(TlsTest, CaValidCertificateWithOtherPinIsRefused) {
  start(CertKind::good);
  // The pin of another key: a pin overrides the CA, also to refuse.
  expect_refused(with_pin(server_.pin_of(CertKind::self_signed)), "public key does not match pin");
}

TEST_F(TlsTest, ExpiredCertificateIsRefused) {
  start(CertKind::expired);
  expect_refused({}, "expired on 2024-01-01");
}

TEST_F(TlsTest, MalformedPinPreventsConnecting) {
  start(CertKind::good);
  TestClient client(kAdmin, kPassword, server_, with_pin("sha256:not-base64!"));
  EXPECT_FALSE(client.connect());
  EXPECT_EQ(client.disconnect_reason(), gloox::ConnTlsNotAvailable);
  EXPECT_NE(client.tls_failure().find("invalid pin"), std::string::npos) << client.tls_failure();
}

TEST_F(TlsTest, WrongPasswordIsAnAuthenticationFailure) {
  start(CertKind::good);
  TestClient client(kAdmin, "wrong password", server_);
  EXPECT_FALSE(client.connect());
  EXPECT_EQ(client.disconnect_reason(), gloox::ConnAuthenticationFailed);
  EXPECT_EQ(client.auth_error(), gloox::SaslNotAuthorized);
  EXPECT_EQ(client.tls_failure(), "");  // TLS itself was fine
}

TEST_F(TlsTest, SameClientReconnectsTwentyTimes) {
  start(CertKind::good);
  TestClient client(kAdmin, kPassword, server_);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client.connect()) << "attempt " << i << ": reason " << client.disconnect_reason() << ": "
                                  << client.tls_failure();
    const std::string body = "round " + std::to_string(i);
    const std::string id = client.send_chat("admin@test.local", body);
    auto got = client.wait_for_message([&](const ReceivedMessage& m) { return m.id == id; });
    ASSERT_TRUE(got.has_value()) << "attempt " << i;
    EXPECT_EQ(got->body, body);
    client.disconnect();
    EXPECT_EQ(client.disconnect_reason(), gloox::ConnUserDisconnected);
  }
  EXPECT_EQ(client.connect_count(), 20);
}

TEST_F(TlsTest, SameClientReconnectsAfterServerKillAndRestart) {
  start(CertKind::good);
  const int port = server_.port();
  TestClient client(kAdmin, kPassword, server_);
  ASSERT_TRUE(client.connect());
  // Let the roster and initial presence exchange finish (prosody echoes our
  // own presence last): data the client sends after the server died makes
  // the kernel answer with a reset, which gloox reports as ConnIoError
  // instead of the close this test is about.
  auto settle = [&] { return client.wait_until([&] { return client.last_presence(kAdmin).has_value(); }); };
  ASSERT_TRUE(settle());

  // Killed mid-session: the TLS layer sees the TCP stream end without a
  // close_notify and must leave the client reusable.
  server_.kill();
  EXPECT_TRUE(client.wait_until([&] { return !client.connected(); }));
  EXPECT_EQ(client.disconnect_reason(), gloox::ConnStreamClosed);
  EXPECT_FALSE(client.connect());
  EXPECT_EQ(client.disconnect_reason(), gloox::ConnConnectionRefused);

  ASSERT_TRUE(server_.start()) << server_.error();
  EXPECT_EQ(server_.port(), port);
  ASSERT_TRUE(client.connect()) << client.disconnect_reason() << ": " << client.tls_failure();
  ASSERT_TRUE(settle());
  // Measured: a SIGTERM within a few ms of the last stanza makes prosody
  // 0.12 close with only a TLS close_notify, no stream error.
  client.pump(std::chrono::milliseconds(250));

  // Orderly shutdown: prosody sends a stream error first. SIGTERM by hand
  // so the client keeps reading while prosody shuts down (stop() would block
  // until it is gone).
  ASSERT_EQ(::kill(server_.pid(), SIGTERM), 0);
  EXPECT_TRUE(client.wait_until([&] { return !client.connected(); }));
  EXPECT_EQ(client.disconnect_reason(), gloox::ConnStreamError);
  EXPECT_EQ(client.stream_error(), gloox::StreamErrorSystemShutdown);
  server_.stop();  // reaps it

  // The account survived both restarts (same data directory).
  ASSERT_TRUE(server_.start()) << server_.error();
  ASSERT_TRUE(client.connect()) << client.disconnect_reason() << ": " << client.tls_failure();
  EXPECT_EQ(client.connect_count(), 3);
}

// Runs a program without a shell; true if it exited 0.
bool run(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return false;
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_F(TlsTest, PinHelperMatchesTheDocumentedOpensslPipeline) {
  // What an admin would run to compute a pin; the helper must agree.
  const std::string d = server_.dir() + "/";
  const std::string cert = server_.cert_file(CertKind::self_signed);
  ASSERT_TRUE(run({"openssl", "x509", "-in", cert, "-pubkey", "-noout", "-out", d + "pub.pem"}));
  ASSERT_TRUE(run({"openssl", "pkey", "-pubin", "-in", d + "pub.pem", "-outform", "der", "-out", d + "pub.der"}));
  ASSERT_TRUE(run({"openssl", "dgst", "-sha256", "-binary", "-out", d + "pub.sha256", d + "pub.der"}));
  ASSERT_TRUE(run({"openssl", "base64", "-A", "-in", d + "pub.sha256", "-out", d + "pin.txt"}));
  std::ifstream in(d + "pin.txt");
  std::string expected;
  std::getline(in, expected);
  ASSERT_FALSE(expected.empty());

  std::string error;
  auto pin = agent::pin_of_pem_certificate(cert, &error);
  ASSERT_TRUE(pin.has_value()) << error;
  EXPECT_EQ(*pin, "sha256:" + expected);
  EXPECT_NE(*pin, server_.pin_of(CertKind::good));  // different keys, different pins

  EXPECT_FALSE(agent::pin_of_pem_certificate(d + "missing.pem", &error).has_value());
  EXPECT_NE(error.find("missing.pem"), std::string::npos) << error;
}

}  // namespace
}  // namespace imwatch::test
