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

bool GuardedClient::allowed(const std::string& from, const std::string& ns) {
  // Only the prepared JID is cached, not whether it is an admin's: admins
  // change at a reload.
  if (from != last_from_ || last_from_.empty()) {
    const gloox::JID j(from);
    last_from_ = from;
    last_bare_ = j.bareJID();
    last_own_ = own_side(j);
  }
  const bool admin = !last_own_ && is_admin_(last_bare_);
  // Our version and OS are the admins' business only.
  if (ns == gloox::XMLNS_VERSION) return admin;
  return last_own_ || admin;
}

void GuardedClient::handleTag(gloox::Tag* tag) {
  if (tag && tag->xmlns() == gloox::XMLNS_STREAM_MANAGEMENT) {
    const std::string& name = tag->name();
    if (name == "enabled") {
      unqueued_.reset();
    } else if ((name == "a" || name == "resumed") && tag->hasAttribute("h")) {
      tag->addAttribute("h", std::to_string(unqueued_.translate(std::atol(tag->findAttribute("h").c_str()))));
    }
    gloox::Client::handleTag(tag);
    // gloox restarts its numbering after a resumption; so do we.
    if (name == "resumed") unqueued_.reset();
    return;
  }
  if (tag && intercept_ && (tag->xmlns().empty() || tag->xmlns() == gloox::XMLNS_CLIENT) && intercept_(*tag)) {
    if (m_smContext >= CtxSMEnabled) ++m_smHandled;  // the server counts it; so do we
    return;
  }
  if (!tag || tag->name() != "iq" || !(tag->xmlns().empty() || tag->xmlns() == gloox::XMLNS_CLIENT)) {
    gloox::Client::handleTag(tag);
    return;
  }
  const std::string& type = tag->findAttribute("type");
  const bool query = type == "get" || type == "set";
  const std::string& from = tag->findAttribute("from");
  const gloox::Tag* child = tag->children().empty() ? nullptr : tag->children().front();
  const std::string ns = child ? child->xmlns() : "";
  // Answers to our own queries come from the server or the admins; anything
  // else is not ours to read.
  if (allowed(from, ns) || (!query && last_own_)) {
    gloox::Client::handleTag(tag);
    return;
  }
  if (query) {
    gloox::IQ re(gloox::IQ::Error, gloox::JID(from), tag->findAttribute("id"));  // to the full JID
    re.addExtension(new gloox::Error(gloox::StanzaErrorTypeCancel, gloox::StanzaErrorServiceUnavailable));
    send_unqueued(re.tag());
    ++refused_;
    if (on_refused_) on_refused_(last_bare_, ns.empty() ? "an empty query" : ns);
  }
  // The server counts what it sent us; we count what we handled, dropped or not.
  if (m_smContext >= CtxSMEnabled) ++m_smHandled;
}

void GuardedClient::send_unqueued(gloox::Tag* tag) {
  if (!tag) return;
  if (m_smContext >= CtxSMEnabled) unqueued_.sent(stanzasSent());
  send(tag->xml());  // as is: the server stamps 'from'
  delete tag;
}

void GuardedClient::handleStatistics(const gloox::StatisticsStruct stats) {
  // Only these four kinds go into the XEP-0198 queue (not <r/> and <a/>, nor
  // what send_unqueued sends).
  long queued = stats.iqStanzasSent + stats.messageStanzasSent + stats.s10nStanzasSent + stats.presenceStanzasSent;
  if (queued - queued_at_last_request_ < kAckEvery) return;
  // Updated first: the request below is sent through the same path.
  queued_at_last_request_ = queued;
  reqStreamManagement();
}

}  // namespace imwatch::agent
