#include "agent/xmpp/adhoc.h"

#include <gloox/dataform.h>
#include <gloox/error.h>
#include <spdlog/spdlog.h>

#include "agent/report.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

using gloox::Adhoc;
using gloox::DataForm;
using gloox::DataFormField;

// Fields of a submission read at most, and the bytes of a value kept: one
// byte over the limit is enough for the check to refuse it, and a huge
// value costs nothing more than what gloox already parsed.
constexpr size_t kMaxFields = 16;

DataFormField::FieldType field_type(FormField::Type t) {
  switch (t) {
    case FormField::Type::list_single: return DataFormField::TypeListSingle;
    case FormField::Type::text_multi: return DataFormField::TypeTextMulti;
    case FormField::Type::fixed: return DataFormField::TypeFixed;
    case FormField::Type::text_single: break;
  }
  return DataFormField::TypeTextSingle;
}

gloox::StringList lines_of(const std::string& text) {
  gloox::StringList out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string line = text.substr(start, end - start);
    if (line != "```") out.push_back(std::move(line));  // the chat's XEP-0393 fences: the client lays a field out
    start = end + 1;
  }
  return out;
}

DataForm* to_gloox(const Form& f, gloox::FormType type) {
  auto* form = new DataForm(type, gloox::StringList{f.instructions}, f.title);
  for (const auto& field : f.fields) {
    DataFormField* g = form->addField(field_type(field.type), field.var, "", field.label);
    if (field.type == FormField::Type::text_multi)
      g->setValues(lines_of(field.value));
    else if (!field.value.empty())
      g->setValue(field.value);
    for (const auto& o : field.options) g->addOption(o.label, o.value);
    g->setRequired(field.required);
  }
  return form;
}

std::map<std::string, std::string> values_of(const DataForm& form) {
  std::map<std::string, std::string> out;
  for (const DataFormField* f : form.fields()) {
    if (out.size() >= kMaxFields) break;
    if (!f || f->name().empty() || f->name().size() > 32) continue;
    out.emplace(f->name(), f->value().substr(0, kMaxFieldValue + 1));
  }
  return out;
}

const DataForm* submitted(const Adhoc::Command& command) {
  const auto* form = dynamic_cast<const DataForm*>(command.plugin());
  return form && form->type() == gloox::TypeSubmit ? form : nullptr;
}

}  // namespace

AdhocCommands::AdhocCommands(gloox::ClientBase& client, IsAdmin is_admin, WithContext with_context, Clock& clock,
                             AdhocLimits limits)
    : adhoc_(&client),
      is_admin_(std::move(is_admin)),
      with_context_(std::move(with_context)),
      clock_(clock),
      limits_(limits) {
  for (const auto& n : adhoc_nodes()) adhoc_.registerAdhocCommandProvider(this, n.node, n.name);
}

AdhocCommands::~AdhocCommands() {
  for (const auto& n : adhoc_nodes()) adhoc_.removeAdhocCommandProvider(n.node);
}

// gloox asks this for every item of the command list: strangers (who do
// not get this far) and anyone else see none.
bool AdhocCommands::handleAdhocAccessRequest(const gloox::JID& from, const std::string&) {
  return is_admin_(from.bareJID());
}

void AdhocCommands::expire() {
  const double now = clock_.now();
  std::erase_if(sessions_, [&](const auto& kv) { return now - kv.second.started > limits_.lifetime; });
}

void AdhocCommands::handleAdhocCommand(const gloox::JID& from, const Adhoc::Command& command,
                                       const std::string& sid) {
  expire();
  const std::string& node = command.node();
  if (!is_admin_(from.bareJID())) {
    adhoc_.respond(from, new Adhoc::Command(node, sid, Adhoc::Command::Canceled),
                   new gloox::Error(gloox::StanzaErrorTypeCancel, gloox::StanzaErrorForbidden));
    return;
  }
  auto it = sessions_.find(sid);
  if (command.action() == Adhoc::Command::Cancel) {
    if (it != sessions_.end()) sessions_.erase(it);
    adhoc_.respond(from, new Adhoc::Command(node, sid, Adhoc::Command::Canceled));
    return;
  }
  if (!command.sessionID().empty()) {
    // A session of another admin, another node, or one that expired.
    if (it == sessions_.end() || it->second.admin != from.bare() || it->second.node != node)
      return say(from, node, sid, Outcome::failed, "this command session has ended; start it again");
    with_context_([&](ChatContext& ctx) {
      ctx.who = from.bare();  // who set a threshold, for `rules` and the team
      next(from, it->second, sid, command, ctx);
    });
    return;
  }
  const auto nodes = adhoc_nodes();
  auto n = std::find_if(nodes.begin(), nodes.end(), [&](const AdhocNode& a) { return a.node == node; });
  if (n == nodes.end()) return say(from, node, sid, Outcome::usage, "no such command");
  with_context_([&](ChatContext& ctx) {
    ctx.who = from.bare();
    start(from, *n, sid, ctx);
  });
}

void AdhocCommands::start(const gloox::JID& from, const AdhocNode& node, const std::string& sid, ChatContext& ctx) {
  std::optional<Form> form;
  if (node.node == kSetNode)
    form = threshold_rule_form(ctx);
  else if (node.command)
    form = command_form(*node.command, ctx);
  if (!form) return finish(from, node.node, sid, node.node, ctx);  // no arguments: run it now
  if (sessions_.size() >= limits_.max_sessions)
    return say(from, node.node, sid, Outcome::failed, "too many command forms open; finish or cancel one");
  sessions_[sid] = Session{node.node, from.bare(), 1, "", clock_.now()};
  const bool two_stage = node.node == kSetNode;
  const auto action = two_stage ? Adhoc::Command::Next : Adhoc::Command::Complete;
  adhoc_.respond(from, new Adhoc::Command(node.node, sid, Adhoc::Command::Executing, action, action,
                                          to_gloox(*form, gloox::TypeForm)));
}

void AdhocCommands::next(const gloox::JID& from, Session& s, const std::string& sid,
                         const Adhoc::Command& command, ChatContext& ctx) {
  const std::string node = s.node;
  const DataForm* form = submitted(command);
  if (!form) {
    sessions_.erase(sid);
    return say(from, node, sid, Outcome::usage, "no form submitted");
  }
  const auto values = values_of(*form);
  if (node == kSetNode && s.stage == 1) {
    const Rule* rule = chosen_rule(values, ctx);
    if (!rule) {
      sessions_.erase(sid);
      return say(from, node, sid, Outcome::usage, "no such rule");
    }
    s.stage = 2;
    s.rule = rule->name;
    adhoc_.respond(from, new Adhoc::Command(node, sid, Adhoc::Command::Executing, Adhoc::Command::Complete,
                                            Adhoc::Command::Complete,
                                            to_gloox(threshold_values_form(*rule, ctx.engine.settings().repeat),
                                                     gloox::TypeForm)));
    return;
  }
  FormLine line;
  if (node == kSetNode) {
    const std::map<std::string, std::string> rule_value{{"rule", s.rule}};
    const Rule* rule = chosen_rule(rule_value, ctx);  // a reload may have removed it meanwhile
    line = rule ? threshold_line(*rule, values, ctx.engine.settings().repeat) : FormLine{"", "the rule is gone"};
  } else if (const Command* c = find_command(node)) {
    line = line_from_form(*c, values, ctx);
  }
  sessions_.erase(sid);
  if (!line.error.empty() || line.line.empty())
    return say(from, node, sid, Outcome::usage, line.error.empty() ? "no such command" : line.error);
  finish(from, node, sid, line.line, ctx);
}

void AdhocCommands::finish(const gloox::JID& from, const std::string& node, const std::string& sid,
                           const std::string& line, ChatContext& ctx) {
  const std::string& bare = from.bare();
  ctx.speaker = bare.substr(0, std::min<size_t>(bare.find('@'), 64));  // as the chat names an admin
  Reply reply = run_command(line, ctx);
  audit("ad-hoc", bare, line, reply);
  say(from, node, sid, reply.outcome, reply.text);
}

// The end of a session: the reply as a result form (one text-multi field,
// the chat's reply), or a note saying what was wrong.
void AdhocCommands::say(const gloox::JID& from, const std::string& node, const std::string& sid, Outcome o,
                        const std::string& text) {
  if (o == Outcome::ok) {
    Form result{node, "", {{"reply", "reply", FormField::Type::text_multi, {}, text, false}}};
    adhoc_.respond(from, new Adhoc::Command(node, sid, Adhoc::Command::Completed, to_gloox(result, gloox::TypeResult)));
    return;
  }
  auto* c = new Adhoc::Command(node, sid, Adhoc::Command::Completed);
  c->addNote(new Adhoc::Command::Note(o == Outcome::usage ? Adhoc::Command::Note::Error : Adhoc::Command::Note::Warning,
                                      one_line(text)));
  adhoc_.respond(from, c);
}

}  // namespace imwatch::agent
