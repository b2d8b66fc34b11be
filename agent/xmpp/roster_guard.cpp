#include "agent/xmpp/roster_guard.h"

#include <gloox/client.h>
#include <gloox/iq.h>
#include <gloox/stanzaextension.h>
#include <gloox/subscription.h>
#include <gloox/tag.h>
#include <spdlog/spdlog.h>

#include <set>
#include <vector>

#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

enum Context { kFetch, kRemove };

// <query xmlns='jabber:iq:roster'/>: the items' JID and subscription state,
// nothing else (names and groups are never read, so never kept).
class RosterQuery final : public gloox::StanzaExtension {
 public:
  struct Item {
    std::string jid, subscription, ask;
  };

  explicit RosterQuery(const gloox::Tag* tag = nullptr) : StanzaExtension(gloox::ExtRoster) {
    if (!tag) return;
    for (const gloox::Tag* i : tag->findChildren("item"))
      items.push_back({i->findAttribute("jid"), i->findAttribute("subscription"), i->findAttribute("ask")});
  }
  const std::string& filterString() const override {
    static const std::string filter = "/iq/query[@xmlns='" + gloox::XMLNS_ROSTER + "']";
    return filter;
  }
  StanzaExtension* newInstance(const gloox::Tag* tag) const override { return new RosterQuery(tag); }
  gloox::Tag* tag() const override {
    auto* t = new gloox::Tag("query", gloox::XMLNS, gloox::XMLNS_ROSTER);
    for (const auto& i : items) {
      auto* item = new gloox::Tag(t, "item", "jid", i.jid);
      if (!i.subscription.empty()) item->addAttribute("subscription", i.subscription);
    }
    return t;
  }
  StanzaExtension* clone() const override { return new RosterQuery(*this); }

  std::vector<Item> items;
};

}  // namespace

RosterGuard::RosterGuard(gloox::Client& client, IsAdmin is_admin) : client_(client), is_admin_(std::move(is_admin)) {
  client_.registerStanzaExtension(new RosterQuery());
  client_.registerIqHandler(this, gloox::ExtRoster);
}

RosterGuard::~RosterGuard() {
  client_.removeIqHandler(this, gloox::ExtRoster);
  client_.removeIDHandler(this);
}

void RosterGuard::on_session() {
  revoking_.clear();
  gloox::IQ iq(gloox::IQ::Get, gloox::JID(), client_.getID());
  iq.addExtension(new RosterQuery());
  client_.send(iq, this, kFetch);
}

bool RosterGuard::handleIq(const gloox::IQ& iq) {
  // RFC 6121 2.1.6: a push is ours only when it comes from our own account.
  // GuardedClient refuses strangers first; an admin may not push either.
  if (iq.subtype() != gloox::IQ::Set) return false;
  if (iq.from() && iq.from().bareJID() != client_.jid().bareJID()) return false;
  gloox::IQ re(gloox::IQ::Result, iq.from(), iq.id());
  client_.send(re);
  if (const auto* q = iq.findExtension<RosterQuery>(gloox::ExtRoster))
    for (const auto& i : q->items) check(i.jid, i.subscription, i.ask);
  return true;
}

void RosterGuard::handleIqID(const gloox::IQ& iq, int context) {
  if (iq.subtype() == gloox::IQ::Error) {
    // A removal may race with the contact's own unsubscription: not worth a warning.
    if (context == kFetch)
      spdlog::warn("xmpp: the server refused the roster request; non-admins cannot be revoked in this session");
    else
      spdlog::debug("xmpp: the server refused a roster removal");
    return;
  }
  if (context != kFetch) return;
  if (const auto* q = iq.findExtension<RosterQuery>(gloox::ExtRoster))
    for (const auto& i : q->items) check(i.jid, i.subscription, i.ask);
}

void RosterGuard::check(const std::string& jid, const std::string& subscription, const std::string& ask) {
  gloox::JID who(jid);
  if (!who || subscription == "remove" || is_admin_(who.bareJID())) return;
  // Our own revocation makes the server push the item again (subscription
  // none, then remove): once per contact and session is enough.
  if (!revoking_.insert(who.bare()).second) return;
  // Both directions: they no longer see our presence (our health), and we
  // no longer ask for theirs. Then the item goes (RFC 6121 2.5).
  client_.send(gloox::Subscription(gloox::Subscription::Unsubscribed, who.bareJID()));
  client_.send(gloox::Subscription(gloox::Subscription::Unsubscribe, who.bareJID()));
  gloox::IQ iq(gloox::IQ::Set, gloox::JID(), client_.getID());
  auto* q = new RosterQuery();
  q->items.push_back({who.bare(), "remove", ""});
  iq.addExtension(q);
  client_.send(iq, this, kRemove);
  ++revoked_;
  spdlog::info("xmpp: revoked the subscription of {} ({}{}) and removed it from the roster: not an admin",
               quote(who.bare()), subscription.empty() ? "none" : subscription, ask.empty() ? "" : ", asked");
}

}  // namespace imwatch::agent
