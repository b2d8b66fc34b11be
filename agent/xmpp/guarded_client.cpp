#include "agent/xmpp/guarded_client.h"

#include <gloox/error.h>
#include <gloox/iq.h>

namespace imwatch::agent {

GuardedClient::GuardedClient(const gloox::JID& jid, const std::string& password, IsAdmin is_admin, OnRefused on_refused)
    : gloox::Client(jid, password), is_admin_(std::move(is_admin)), on_refused_(std::move(on_refused)) {
  registerStatisticsHandler(this);
}

bool GuardedClient::own_side(const gloox::JID& from) {
  // No 'from' means our own account (RFC 6120 8.1.2.1); the server's domain
  // pings us and asks for our features (XEP-0115, PEP).
  return !from || from.bareJID() == jid().bareJID() || from.full() == jid().server();
}

void GuardedClient::handleTag(gloox::Tag* tag) {
  if (!tag || tag->name() != "iq" || !(tag->xmlns().empty() || tag->xmlns() == gloox::XMLNS_CLIENT)) {
    gloox::Client::handleTag(tag);
    return;
  }
  const std::string& type = tag->findAttribute("type");
  const bool query = type == "get" || type == "set";
  const gloox::JID from(tag->findAttribute("from"));
  const gloox::Tag* child = tag->children().empty() ? nullptr : tag->children().front();
  const std::string ns = child ? child->xmlns() : "";
  bool allowed = own_side(from) || is_admin_(from.bareJID());
  // Our version and OS are the admins' business only.
  if (ns == gloox::XMLNS_VERSION && !is_admin_(from.bareJID())) allowed = false;
  // Answers to our own queries come from the server or the admins; anything
  // else is not ours to read.
  if (allowed || (!query && own_side(from))) {
    gloox::Client::handleTag(tag);
    return;
  }
  if (query) {
    gloox::IQ re(gloox::IQ::Error, from, tag->findAttribute("id"));
    re.addExtension(new gloox::Error(gloox::StanzaErrorTypeCancel, gloox::StanzaErrorServiceUnavailable));
    send(re);
    ++refused_;
    if (on_refused_) on_refused_(from.bareJID(), ns.empty() ? "an empty query" : ns);
  }
  // The server counts what it sent us; we count what we handled, dropped or not.
  if (m_smContext >= CtxSMEnabled) ++m_smHandled;
}

void GuardedClient::handleStatistics(const gloox::StatisticsStruct stats) {
  // Only these four kinds go into the XEP-0198 queue (not <r/> and <a/>).
  long queued = stats.iqStanzasSent + stats.messageStanzasSent + stats.s10nStanzasSent + stats.presenceStanzasSent;
  if (queued - queued_at_last_request_ < kAckEvery) return;
  // Updated first: the request below is sent through the same path.
  queued_at_last_request_ = queued;
  reqStreamManagement();
}

}  // namespace imwatch::agent
