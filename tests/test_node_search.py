"""Searches without a compiled query find what the query they replace finds, in its order, and
start no match deeper than ruby.MAX_ASCENT."""

from __future__ import annotations

from pathlib import Path

import pytest

from joblint import ruby
from joblint.rails import mailers, models, named_calls, native_jobs, queues, schedules, zeitwerk
from joblint.rails.app import App
from joblint.rails.classes import RERAISE_CALLS, CallSites
from joblint.rules import _arguments, _records
from joblint.rules import jl406_user_controlled_mail_header as jl406
from joblint.source import SourceFile

from .conftest import write_tree

SAMPLE = """
class ReportJob < ApplicationJob
  queue_as :low
  queue_as "reports"
  self.queue_name = "late"
  sidekiq_options queue: "native", retry: 3
  def perform(id, reset: false)
    x = y = Foo.set(queue: "q").perform_later(id.set(1)) << bar.new(a.send(:b))
    list += [1]
    Rails.application.config.autoload_paths << "lib"
    ActionMailer::Base.deliver_later_queue_name = "mail"
    reset; settings; :queue_as; "set"; Foo.new; perform
  end
  def self.perform(a); end
  def perform; end
end
def perform(*args) = (def perform(b); end)
"""


def source_of(text: str) -> SourceFile:
    return SourceFile(Path("x.rb"), "x.rb", data=text.encode())


def spans(nodes) -> list[tuple[str, int, int]]:
    return [(node.type, node.start_byte, node.end_byte) for node in nodes]


def query_matches(query: str, text: str, *names: str) -> list[list[tuple[str, int, int]]]:
    """Each match of `query`, as the spans of its captures `names` (those it has)."""
    found = ruby.matches(ruby.compile_query(query), source_of(text).root)
    return [spans(caps[name][0] for name in names if name in caps) for _, caps in found]


def nested(text: str, depth: int) -> str:
    return "[" * depth + text + "]" * depth


def and_nested(text: str) -> list[str]:
    """A sample, and the sample on one line (comments dropped) nested 250 to 257 deep: across
    the depth past which no match starts."""
    flat = text.replace("\n", "; ").replace("#", "")
    return [text] + [nested(flat, depth) for depth in range(250, 258)]


CASES = [SAMPLE] + [nested(SAMPLE.replace("\n", "; "), depth) for depth in range(250, 258)]


@pytest.mark.parametrize("text", CASES)
def test_zeitwerk_statements_are_the_query_matches(text):
    calls, appends = zeitwerk._statements(source_of(text).root)
    assert [spans([call.child_by_field_name("method"), call]) for call, _ in calls] == query_matches(
        "(call method: (identifier) @method) @call", text, "method", "call"
    )
    appends_query = """
        (binary left: (_) @list operator: "<<" right: (_) @value)
        (operator_assignment left: (_) @list operator: "+=" right: (_) @value)
        (assignment left: (_) @list right: (_) @value)"""
    assert [spans(pair) for pair in appends] == query_matches(appends_query, text, "list", "value")


@pytest.mark.parametrize("text", CASES)
def test_queue_statements_are_the_query_matches(text):
    found = queues._queue_statements(source_of(text))
    query = """
        (call method: (identifier) @method
          (#any-of? @method "queue_as" "sidekiq_options" "set" "deliver_later")
          arguments: (argument_list) @args) @call
        (assignment
          left: (call receiver: (self) method: (identifier) @attr (#eq? @attr "queue_name"))
          right: (_) @value) @assign
        (assignment
          left: (call method: (identifier) @mailer_attr (#eq? @mailer_attr "deliver_later_queue_name"))
          right: (_) @mailer_value) @mailer_assign"""
    expected = query_matches(query, text, "call", "args", "assign", "value", "mailer_assign", "mailer_value")
    assert [spans([node, operand]) for _, node, operand in found] == expected
    assert text is not SAMPLE or [method for method, _, _ in found] == [
        "queue_as", "queue_as", "queue_name", "sidekiq_options", "set", "set", "deliver_later_queue_name"
    ]


@pytest.mark.parametrize("text", CASES)
def test_perform_parameters_are_the_query_matches(text):
    query = ('(method name: (identifier) @name (#eq? @name "perform")'
             " parameters: (method_parameters) @params)")
    expected = query_matches(query, text, "params")
    assert [spans([params]) for params in _arguments._perform_parameters(source_of(text))] == expected


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("family", named_calls.FAMILIES)
def test_named_calls_are_the_query_matches(text, family):
    query = ruby.calls_query(family).source
    expected = query_matches(query, text, "call", "method")
    got = named_calls._calls_of(source_of(text), family)
    assert [spans([call, call.child_by_field_name("method")]) for call, _ in got] == expected


def test_identifiers_named_finds_whole_identifiers_in_document_order():
    source = source_of("reset = set; :set; 'set'; a.set(set?); set!\nset # set\n")
    found = ruby.identifiers_named(source.root, source.data, ["set", "set!"])
    assert [(ruby.text(node), node.start_byte) for node, _ in found] == [
        ("set", 8), ("set", 28), ("set!", 39), ("set", 44)
    ]
    assert all(path[0] == source.root and len(path) >= 1 for _, path in found)


def test_identifiers_named_searches_once_for_names_that_start_others():
    """A name that starts others (`perform`, `perform_later`) is searched once for all of them;
    what it finds is what a search for each name finds."""
    def each_name(source, names):
        found = {}
        for name in names:
            for leaf in ruby.written_at(source.root, source.data, name.encode()):
                if leaf.type == "identifier" and leaf.end_byte == leaf.start_byte + len(name):
                    found[leaf.start_byte] = leaf
        return sorted(found)

    text = ("perform; perform_later(1); x.perform_later!; performance; xperform_later; perform_now\n"
            "deliver!; m.deliver_later!; deliver_laterx; public_send(:send, 1); __send__; send_later\n"
            ":perform_later; 'deliver_now'; # perform_async\nperform_async perform_in perform_at\n")
    names = ("perform", "perform_later", "perform_now", "perform_async", "perform_in", "deliver!",
             "deliver", "deliver_later!", "send", "public_send", "__send__")
    source = source_of(text)
    for chosen in (names, frozenset(names), list(names), names[1:], ("perform_later", "perform")):
        found = ruby.identifiers_named(source.root, source.data, chosen)
        assert [node.start_byte for node, _ in found] == each_name(source, chosen)
    assert [ruby.text(node) for node, _ in ruby.identifiers_named(source.root, source.data, names)] == [
        "perform", "perform_later", "perform_now", "deliver!", "deliver_later!", "public_send",
        "__send__", "perform_async", "perform_in",
    ]


def test_identifiers_named_leaves_out_what_is_nested_too_deep():
    limit = ruby.MAX_ASCENT + 2
    for depth in (limit - 1, limit, limit + 1):
        source = source_of("[" * (depth - 1) + "set" + "]" * (depth - 1))  # program > arrays > set
        found = ruby.identifiers_named(source.root, source.data, ["set"])
        assert [len(path) for _, path in found] == ([depth] if depth <= limit else [])


def test_children_in_fields_walks_in_document_order_to_the_depth_limit():
    source = source_of("a.b(c.d) << e\nx = y")
    found = [(ruby.text(node), field, parent.type)
             for node, field, parent in ruby.children_in_fields(source.root, {"method", "right"})]
    assert found == [("b", "method", "call"), ("d", "method", "call"), ("e", "right", "binary"),
                     ("y", "right", "assignment")]
    deep = source_of(nested("a.b", ruby.MAX_ASCENT))  # the call at MAX_ASCENT + 1
    assert list(ruby.children_in_fields(deep.root, {"method"})) == []
    shallow = source_of(nested("a.b", ruby.MAX_ASCENT - 1))
    assert len(list(ruby.children_in_fields(shallow.root, {"method"}))) == 1


DEFINITIONS = """
module Billing
  class Invoice < ApplicationRecord
    class << self; end
    class Line; end
    def klass = self.class
  end
  module Reports; class Monthly::Sheet; end; end
end
class ::Top; end
x = "class Fake; end" # module Comment
Class.new { class Inner; end }
"""
DEFINITION_CASES = and_nested(DEFINITIONS)


@pytest.mark.parametrize("text", DEFINITION_CASES)
def test_definition_nodes_are_the_query_captures_in_document_order(text):
    """The same nodes as the query (whose own order is not the document's for nested ones)."""
    source = source_of(text)
    expected = ruby.captures(ruby.compile_query("[(class) (module)] @def"), source.root).get("def", [])
    got = ruby.definition_nodes(source.root, source.data)
    assert spans(got) == sorted(spans(expected), key=lambda s: s[1])
    assert text is not DEFINITIONS or [ruby.text(n.child_by_field_name("name")) for n in got] == [
        "Billing", "Invoice", "Line", "Reports", "Monthly::Sheet", "::Top", "Inner"
    ]


KEYWORDS = """
class Sync
  def self.run(*args) = new.run(*args)
  def run
    begin
      call rescue nil
    rescue Timeout::Error, IOError => e
      retry
    rescue
      "rescue me"
    end
  end
  class << self
    def other; end
  end
  def obj.def_on_object; end
  def done = "def self.fake"
rescue => e
  raise
end
"""
KEYWORD_CASES = and_nested(KEYWORDS)


@pytest.mark.parametrize("text", KEYWORD_CASES)
@pytest.mark.parametrize(("query", "kinds"), [
    ("(rescue) @node", {"rescue": "rescue"}),
    ("(singleton_method) @node", {"def": "singleton_method"}),
])
def test_keyword_nodes_are_the_query_matches(text, query, kinds):
    source = source_of(text)
    got = ruby.keyword_nodes(source.root, source.data, kinds)
    assert [spans([node]) for node in got] == query_matches(query, text, "node")
    assert text is not KEYWORDS or len(got) == (3 if "rescue" in kinds else 2)


MACROS = """
class Order < ApplicationRecord
  has_many :lines, dependent: :destroy
  belongs_to("customer")
  has_one self.class_name_for(:x)
  scope :open, -> { where(open: true) }
  scope(
    # the closed ones
    :closed, -> { where(open: false) })
  Other.has_many :not_mine
  has_and_belongs_to_many :tags
  after_save :sync
  before_destroy { cleanup }
  self.after_create :not_a_macro_call
  def build = has_one(:inside)
end
"""
MACRO_CASES = and_nested(MACROS)


@pytest.mark.parametrize("text", MACRO_CASES)
def test_model_macros_are_the_query_matches(text):
    query = """(call !receiver method: (identifier) @macro
      (#any-of? @macro "has_many" "has_one" "belongs_to" "has_and_belongs_to_many" "scope")
      arguments: (argument_list . [(simple_symbol) (string)] @name)) @call"""
    got = list(models._macro_calls(source_of(text)))
    assert [spans([call, name]) for call, name in got] == query_matches(query, text, "call", "name")
    callbacks = ('(call !receiver method: (identifier) @macro (#any-of? @macro "after_save" '
                 '"before_destroy" "after_create")) @call')
    found = named_calls.calls_named(source_of(text), ("after_save", "before_destroy", "after_create"),
                                    receiver=False)
    assert [spans([call]) for call in found] == query_matches(callbacks, text, "call")


ASSIGNMENTS = """
def perform(user)
  user.count += 1
  user.total -= amount; x ||= 2
  @seen += [1] if a != b && c <= d
  s = "x += 1" # y -= 2
  list[i] += list[i -= 1]
end
"""
ASSIGNMENT_CASES = and_nested(ASSIGNMENTS)


@pytest.mark.parametrize("text", ASSIGNMENT_CASES)
def test_operator_assignments_are_the_query_matches(text):
    source = source_of(text)
    got = ruby.operator_assignments(source.root, source.data, ("+=", "-="))
    everything = ruby.matches(ruby.compile_query("(operator_assignment) @node"), source.root)
    expected = sorted((caps["node"][0] for _, caps in everything
                       if ruby.text(caps["node"][0].child_by_field_name("operator")) in ("+=", "-=")),
                      key=lambda node: node.start_byte)
    assert spans(got) == spans(expected)
    assert text is not ASSIGNMENTS or len(got) == 5


@pytest.mark.parametrize("text", KEYWORD_CASES)
def test_reraises_are_the_query_captures_below_any_node(text):
    """CallSites reads `raise`/`fail`/`retry_job` from the text below the node it is given
    (a file, a method, a rescue clause), as the query does."""
    text = text.replace("retry", "retry_job; fail 'x'; raise")
    source = source_of(text)
    query = ruby.compile_query(
        "((identifier) @name (#any-of? @name {}))".format(" ".join(f'"{m}"' for m in RERAISE_CALLS)))
    for node in [source.root, *ruby.descendants(source.root, {"method", "rescue"})]:
        expected = sorted(n.start_byte for n in ruby.captures(query, node).get("name", []))
        assert CallSites(node).reraises == expected
    assert text is not KEYWORDS or CallSites(source.root).reraises


MAILER_CALLS = """
class SignupsController < ApplicationController
  def create
    UserMailer.welcome(user).deliver_later
    Admin::UserMailer.with(user: user).notice.deliver_now
    ::UserMailer.welcome(user)
    UserMailer::Templates.fetch(:x)
    AdminUserMailer.welcome(user)
    mailer = UserMailer
    mailer.welcome(user)
    UserMailer.with(a: 1).with(b: 2).welcome
    "UserMailer.welcome"
  end
end
"""


@pytest.mark.parametrize("depth", [0, *range(250, 258)])
def test_mailer_action_calls_are_the_query_matches_a_mailer_can_answer(tmp_path, depth):
    write_tree(tmp_path, {
        "app/mailers/user_mailer.rb": "class UserMailer < ActionMailer::Base\n  def welcome(u); end\nend\n",
        "app/mailers/admin/user_mailer.rb": (
            "module Admin\n  class UserMailer < ActionMailer::Base\n    def notice; end\n  end\nend\n"),
    })
    app = App(tmp_path)
    text = MAILER_CALLS if depth == 0 else nested(MAILER_CALLS.replace("\n", "; "), depth)
    source = source_of(text)
    calls = [caps["call"][0] for _, caps in ruby.matches(mailers.ACTION_CALLS, source.root)]
    expected = sorted(spans(c for c in calls if mailers.action_call(c, app) is not None),
                      key=lambda s: (s[1], s[2]))
    got = [c for c in mailers.mailer_action_calls(source, app) if mailers.action_call(c, app) is not None]
    assert spans(got) == expected
    assert depth or [ruby.call_method(c) for c in got] == ["welcome", "notice", "welcome"]


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("receiver", [None, True, False])
def test_calls_below_a_node_are_the_query_matches_on_it(text, receiver):
    source = source_of(text)
    names = ("set", "new", "perform_later", "send")
    constraint = {None: "", True: "receiver: (_) ", False: "!receiver "}[receiver]
    quoted = " ".join(f'"{name}"' for name in names)
    query = ruby.compile_query(f"(call {constraint}method: (identifier) @method (#any-of? @method {quoted})) @call")
    for node in [source.root, *ruby.descendants(source.root, {"method", "assignment"})]:
        expected = [spans([caps["call"][0]]) for _, caps in ruby.matches(query, node)]
        assert [spans([call]) for call in ruby.calls_below(node, names, receiver)] == expected


IVARS = """
class Report
  @@count = 0
  def initialize(kind, user: nil)
    @kind = kind
    @user ||= user; @seen += 1
    @kind = "default" if kind.nil?
    log("@kind = #{@kind}")
    a = @other = 2
  end
end
"""


@pytest.mark.parametrize("text", and_nested(IVARS))
def test_ivar_values_are_the_query_matches(text):
    source = source_of(text)
    query = ruby.compile_query("""
        (assignment left: (instance_variable) @ivar right: (_) @value)
        (operator_assignment left: (instance_variable) @ivar right: (_) @value)""")
    for owner in ruby.descendants(source.root, {"class"}):
        expected: dict[str, list[tuple[str, int, int]]] = {}
        for _, caps in ruby.matches(query, owner):
            expected.setdefault(ruby.text(caps["ivar"][0]), []).extend(spans(caps["value"]))
        _records._last_owner = None
        got = {name: spans(values) for name, values in _records._ivar_values(owner).items()}
        assert got == {name: sorted(v, key=lambda s: s[1]) for name, v in expected.items()}
        assert text is not IVARS or sorted(got) == ["@kind", "@other", "@seen", "@user"]


NATIVE_CALLS = """
class Signup
  def create(user)
    Delayed::Job.enqueue(WelcomeJob.new(user.id), queue: "mail")
    Resque.enqueue_to(:low, ExportJob, user.id)
    Resque::Job.create(:low, ExportJob, 1)
    user.delay(run_at: 1.hour.from_now).notify(:x)
    delay.ping; delay().pong
    Foo.create(a: 1).delay.bar
    enqueue(self); "Resque.enqueue(X)"
  end
end
"""


@pytest.mark.parametrize("text", and_nested(NATIVE_CALLS))
def test_native_calls_are_the_query_matches(text):
    source = source_of(text)
    expected = [
        spans([caps["enqueue"][0]]) if "enqueue" in caps else spans([caps["delayed_call"][0], caps["proxy"][0]])
        for _, caps in ruby.matches(native_jobs._CALLS, source.root)
    ]
    got = [spans([call] if proxy is None else [call, proxy])
           for call, proxy in native_jobs._native_calls(source)]
    assert got == expected
    assert text is not NATIVE_CALLS or len(got) == 8


WRAPPER_CALLS = """
class Export
  def run
    enqueue!
    Export.new(1).enqueue!.tap { enqueue! }
    if ok then enqueue! else other.sync end
    items.each do |item|
      sync
    end
    x = enqueue!
    self.class.sync(Foo.sync(1).enqueue!)
  end
end
"""
WRAPPER_NAMES = ("enqueue!", "sync")


@pytest.mark.parametrize("text", and_nested(WRAPPER_CALLS))
def test_wrapper_call_sites_are_the_query_matches(text):
    quoted = native_jobs._quoted(WRAPPER_NAMES)
    query = ruby.compile_query(
        f"""
        (call method: (identifier) @name (#any-of? @name {quoted})) @call
        (body_statement (identifier) @call @name (#any-of? @name {quoted}))
        (block_body (identifier) @call @name (#any-of? @name {quoted}))
        (then (identifier) @call @name (#any-of? @name {quoted}))
        (else (identifier) @call @name (#any-of? @name {quoted}))
        """
    )
    source = source_of(text)
    expected = [spans([caps["call"][0], caps["name"][0]]) for _, caps in ruby.matches(query, source.root)]
    got = [spans([call, name]) for call, name in native_jobs.wrapper_call_sites(source, WRAPPER_NAMES)]
    assert got == expected
    assert text is not WRAPPER_CALLS or len(got) == 10


CLASS_LEVEL = """
class Export
  @queue = :low
  @retry_limit = x ||= 3
  extend Resque::Plugins::Retry
  handle_asynchronously :notify, priority: 1
  def self.perform(id); @queue = :inner; end
  class << self
    def queue; :low; end
  end
  def perform; end
  other.extend(Foo); extend; @queue ||= :x
end
module Concern
  class_methods do
    def retry_limit = 5
  end
  class_methods { def perform(x) = x }
end
"""


@pytest.mark.parametrize("text", and_nested(CLASS_LEVEL))
def test_class_level_declarations_are_the_query_matches(text):
    source = source_of(text)
    def as_spans(caps: dict) -> list:  # type: ignore[type-arg]
        return sorted((k, spans(v)) for k, v in caps.items())
    expected = [as_spans(caps) for _, caps in ruby.matches(native_jobs._CLASS_LEVEL, source.root)]
    got = [as_spans(caps) for caps in native_jobs.class_level_matches(source)]
    assert got == expected
    assert text is not CLASS_LEVEL or len(got) == 9


CONSTANT_CLASSES = """
module Jobs
  Export = Struct.new(:id) do
    def perform; end
  end
  Admin::Sync = Class.new(Base) { Inner = Struct.new(:x) }
  Other = Foo.new(1); other = Struct.new(:y); Kls = Class.new
  Deep = ::Struct.new(:z)
end
"""


@pytest.mark.parametrize("text", and_nested(CONSTANT_CLASSES))
def test_constant_class_sites_are_the_query_matches(text):
    source = source_of(text)
    expected = [spans([caps[k][0] for k in ("assign", "value", "name", "base")])
                for _, caps in ruby.matches(native_jobs._CONSTANT_CLASS, source.root)]
    got = [spans(list(site)) for site in native_jobs.constant_class_sites(source)]
    assert got == expected
    assert text is not CONSTANT_CLASSES or len(got) == 4


HEADERS = """
class UserMailer < ApplicationMailer
  def welcome(user)
    headers["X-Tag"] = user.tag
    headers[:reply_to] ||= "x@y"
    other[:a] = 1
    mail(to: user.email, subject: "Hi", **opts)
    mail({to: user.email})
    self.mail(to: "a")
  end
end
"""


@pytest.mark.parametrize("text", and_nested(HEADERS))
def test_header_uses_are_the_query_matches(text):
    source = source_of(text)
    query = ruby.compile_query("""
        (call !receiver method: (identifier) @method (#eq? @method "mail")
          arguments: (argument_list (pair) @pair))
        (assignment
          left: (element_reference object: (identifier) @headers (#eq? @headers "headers")) @target
          right: (_) @value) @assign""")
    expected = sorted(
        [tuple(spans([caps["pair"][0]])) if "pair" in caps else tuple(spans([caps["assign"][0], caps["target"][0], caps["value"][0]]))
         for _, caps in ruby.matches(query, source.root)], key=lambda t: t[0][1])
    got = sorted([tuple(spans([n])) if target is None else tuple(spans([n, target, value]))
                  for n, target, value in jl406._header_uses(source)], key=lambda t: t[0][1])
    assert got == expected
    assert text is not HEADERS or len(got) == 3


@pytest.mark.parametrize("text", KEYWORD_CASES)
def test_class_method_names_are_the_query_captures(text):
    source = source_of(text)
    query = ruby.compile_query("""
        (singleton_method name: (identifier) @name)
        (singleton_class body: (body_statement (method name: (identifier) @name)))""")
    expected = {ruby.text(n) for n in ruby.captures(query, source.root).get("name", [])}
    assert schedules._class_method_names(source.root, source.data) == expected
    assert text is not KEYWORDS or expected == {"run", "other", "def_on_object"}


SETTINGS = """
Rails.application.configure do
  config.action_mailer.delivery_method = :smtp
  if ENV["X"]
    config.action_mailer.perform_deliveries = false
  end
  action_mailer.raise_delivery_errors = true
  config.action_mailer.smtp_settings[:port] = 25
  config.action_mailer.default_url_options ||= {}
end
"""


@pytest.mark.parametrize("text", and_nested(SETTINGS))
def test_mail_settings_are_the_query_matches(text):
    source = source_of(text)
    expected = [(ruby.text(caps["name"][0]), spans(caps["value"]))
                for _, caps in ruby.matches(mailers._SETTINGS, source.root)]
    got = [(s.name, spans([s.value])) for s in mailers.mail_settings(source.root)]
    assert got == expected
    assert text is not SETTINGS or [name for name, _ in got] == ["delivery_method", "perform_deliveries"]


SINGLETON_DEFS = [
    "def self.x(*a); end", "def self .x(*a); end", "def self::x(*a); end", "def self\n.x(*a); end",
    "def (obj).x(*a); end", "def @obj.x(*a); end", "def $obj.x(*a); end", "def Klass.x(*a); end",
    "def \\\n  self.x(*a); end", "def self.\n  x(*a); end", "def\tself.x *a\nend", "def ñ.x(*a); end",
    "def self.x(*a) = perform_async(*a)", "def self.[](*a); end",
]


@pytest.mark.parametrize("text", [*SINGLETON_DEFS, *KEYWORD_CASES])
def test_a_singleton_method_is_never_missed_by_the_wrappers_text_check(text):
    from joblint.rails.wrappers import SINGLETON_DEF

    source = source_of(f"class Worker\n  {text}\nend\n")
    if ruby.keyword_nodes(source.root, source.data, {"def": "singleton_method"}):
        assert SINGLETON_DEF.search(source.data)
    assert text not in SINGLETON_DEFS or ruby.keyword_nodes(source.root, source.data, {"def": "singleton_method"})


@pytest.mark.parametrize("text", [
    "def x(*a) = Foo.perform_async(*a)", "def x = y.z", "def x?\n  y.z\nend", "undef self.x",
    "define_method(:x) { Foo.perform_later }", "default.perform_later",
])
def test_a_file_without_singleton_methods_is_not_parsed_for_wrappers(text):
    from joblint.rails.wrappers import SINGLETON_DEF

    assert not SINGLETON_DEF.search(f"class Worker\n  {text}\nend\n".encode())
