"""What an expression holds, as far as the project shows: one Active Record object of a known
model (`User.find(id)`, a variable assigned one, a block variable over a relation, `current_user`,
a reader of a belongs_to association, a project method returning one), or plain data.

Used by the argument rules (JL101, JL107, JL108). Plain functions over nodes and the App.
"""

from __future__ import annotations

from .. import ruby
from ..rails import models
from ..rails.app import App
from ..rails.zeitwerk import camelize
from ..ruby import Node

# Methods that return one record when called on a model or one of its relations.
FINDERS = frozenset(
    {
        "find", "find_by", "find_by!", "first", "first!", "last", "last!", "take", "take!", "sole",
        "find_sole_by", "create", "create!", "new", "find_or_create_by", "find_or_create_by!",
        "find_or_initialize_by", "create_or_find_by", "create_or_find_by!",
    }
)
# Methods whose result is not a relation of records: a chain through one is not a record.
NOT_RECORDS = frozenset(
    {
        "pluck", "ids", "pick", "count", "sum", "minimum", "maximum", "average", "size", "map",
        "collect", "flat_map", "group_by", "index_by", "to_json", "as_json", "id", "attributes",
        "exists?", "any?", "none?", "to_sql", "calculate", "select_all",
    }
)
ITERATORS = frozenset(
    {
        "each", "find_each", "each_with_index", "map", "flat_map", "each_with_object", "select",
        "reject", "filter_map", "collect",
    }
)
_MAX_DEPTH = 4  # variable chains followed before giving up


def is_record(node: Node, app: App, depth: int = 0) -> bool:
    """Does this expression evaluate to one Active Record object, as far as one file shows?"""
    return record_model(node, app, depth) is not None


def record_model(node: Node, app: App, depth: int = 0) -> str | None:
    """The model of the one Active Record object this expression evaluates to, or None."""
    if depth > _MAX_DEPTH:
        return None
    kind = node.type
    if kind == "parenthesized_statements" and node.named_child_count == 1:
        return record_model(node.named_children[0], app, depth + 1)
    if kind == "self":
        if ruby.enclosing(node, {"singleton_method", "singleton_class"}) is not None:
            return None  # `def self.x` / `class << self`: self is the class, not a record
        owner = app.enclosing_class(node)
        if owner is None:
            return None
        if owner in app.model_classes:
            return owner
        scope = ruby.enclosing(node, {"class", "module"})
        if scope is not None and scope.type == "module":  # a concern: the model including it
            return _including_model(owner, app)
        return None
    if kind == "call":
        if ruby.call_method(node) in FINDERS:
            return _model_chain(node, app)
        if ruby.call_receiver(node) is None:
            return _helper_record(node, app, depth)
        return _current_record(node, app) or _association_record(node, app, depth)
    if kind in ("identifier", "instance_variable"):
        return _names_record(ruby.text(node), kind, node, app, depth)
    return None


def _names_record(name: str, kind: str, node: Node, app: App, depth: int) -> str | None:
    """The model of the record the variable `name`, read at `node`, holds (None: not one)."""
    if kind == "identifier":
        binding = ruby.block_binding(name, node)
        if binding is not None:
            call, index = binding
            if ruby.call_method(call) in RECORD_YIELDING_HOOKS:
                return _hooked_model(call, app) if index == 0 else None
            return _iterated_model(call, app) if index == 0 else None
    assigned = ruby.last_assignment(name, node)
    if assigned is not None:
        model = record_model(assigned, app, depth + 1)
        if model is not None:
            return model
        if _plainly_data(assigned):
            return None
    elif kind == "identifier" and name in ruby.method_parameter_names(node):
        if _holds_data(name, node):
            return None  # a parameter whose default value is a string, number…
        passed = _passed_by_callers(name, node, app, depth)
        if passed is not None:
            return passed or None  # "": the callers in the class pass something else
    elif _stored_data(name if kind == "instance_variable" else f"@{name}", node):
        return None  # an attribute whose every assignment in the class is plain data
    elif kind == "identifier":
        returned = _returned_by_project_method(name, node, app)
        if returned is not None:  # a method of the class chain, read one level deep
            model = record_model(returned, app, _MAX_DEPTH) if depth < _MAX_DEPTH else None
            if model is not None or _plainly_data(returned):
                return model
    bare = name.lstrip("@")
    if kind == "identifier" and bare.startswith("current_"):  # `current_account` helpers
        bare = bare.removeprefix("current_")
        return app.model_names.get(bare, "User" if bare == "user" else None)
    return app.model_names.get(bare)


# Hooks whose block receives the record first: model callbacks and state-machine transitions
# (`after_transition to: :paid do |order, transition|`).
RECORD_YIELDING_HOOKS = frozenset(
    {
        "after_create", "after_save", "after_update", "after_destroy", "before_create",
        "before_save", "before_update", "before_destroy", "before_validation",
        "after_validation", "after_commit", "after_create_commit", "after_update_commit",
        "after_destroy_commit", "after_save_commit", "after_rollback", "after_touch",
        "before_transition", "after_transition", "around_transition", "after_failure",
        "after_transition_commit",
    }
)  # fmt: skip


def _hooked_model(call: Node, app: App) -> str | None:
    """The model a hook's block receives: the model the hook is declared in, or the one model
    including the concern it is declared in; None when that cannot be told."""
    owner = app.enclosing_class(call)
    if owner is None:
        return None
    if owner in app.model_classes:
        return owner
    return _including_model(owner, app)


def _including_model(module: str, app: App) -> str | None:
    """The one model that includes a module (a concern), or None."""
    including = [m for m in sorted(app.model_classes) if module in app.classes.ancestors(m)]
    return including[0] if len(including) == 1 else None


def _passed_by_callers(name: str, node: Node, app: App, depth: int) -> str | None:
    """What the callers in the same class pass for parameter `name` of the method around
    `node` (`send_notification(current_organization, @distribution)` for
    `def send_notification(org, dist)`): the model when a call passes a record — that call
    path fails, whatever the others pass — "" when every call passes plain data, None when
    there is no call or what they pass is not known."""
    method = ruby.enclosing(node, ruby.METHOD_TYPES)
    scope = ruby.enclosing(method, {"class", "module"}) if method is not None else None
    if method is None or method.type != "method" or scope is None or depth >= _MAX_DEPTH:
        return None
    position, keyword = _parameter_slot(method, name)
    if position is None and keyword is None:
        return None
    method_name = ruby.method_name(method)
    calls = data = 0
    for call in ruby.descendants(scope, {"call"}):
        if ruby.call_method(call) != method_name or ruby.is_inside(call, method):
            continue
        receiver = ruby.call_receiver(call)
        if receiver is not None and receiver.type != "self":
            continue
        calls += 1
        value = _argument_for(call, position, keyword)
        if value is None:
            continue  # a splat, or the argument left to its default
        model = record_model(value, app, depth + 1)
        if model is not None:
            return model
        data += _plainly_data(value)
    return "" if calls and data == calls else None


def _parameter_slot(method: Node, name: str) -> tuple[int | None, str | None]:
    """The position of positional parameter `name` (or its keyword name)."""
    params = method.child_by_field_name("parameters")
    position = 0
    for param in params.named_children if params is not None else ():
        if param.type == "identifier":
            if ruby.text(param) == name:
                return position, None
            position += 1
        elif param.type == "optional_parameter":
            if ruby.text(param.child_by_field_name("name")) == name:
                return position, None
            position += 1
        elif param.type == "keyword_parameter":
            if ruby.text(param.child_by_field_name("name")) == name:
                return None, name
        elif param.type in ("splat_parameter", "destructured_parameter"):
            return None, None
    return None, None


def _argument_for(call: Node, position: int | None, keyword: str | None) -> Node | None:
    arguments = [a for a in ruby.call_arguments(call) if a.type != "block_argument"]
    if any(
        a.type in ("splat_argument", "hash_splat_argument", "forward_argument") for a in arguments
    ):
        return None
    if keyword is not None:
        for argument in arguments:
            if argument.type == "pair" and ruby.pair_key(argument) == keyword:
                return argument.child_by_field_name("value")
        return None
    positional = [a for a in arguments if a.type != "pair"]
    return positional[position] if position is not None and position < len(positional) else None


def _helper_record(call: Node, app: App, depth: int) -> str | None:
    """A receiver-less call: `current_user`/`current_<model>`, or a project method of the class
    chain whose return value is a record (followed one level)."""
    if ruby.call_arguments(call) or ruby.call_block(call) is not None:
        return None
    method = ruby.call_method(call)
    returned = _returned_by_project_method(method, call, app)
    if returned is not None:
        model = record_model(returned, app, _MAX_DEPTH) if depth < _MAX_DEPTH else None
        if model is not None or _plainly_data(returned):
            return model
    if method.startswith("current_"):
        bare = method.removeprefix("current_")
        return app.model_names.get(bare, "User" if bare == "user" else None)
    return None


def _returned_by_project_method(name: str, node: Node, app: App) -> Node | None:
    """The expression a receiver-less, argument-less method of the class chain around `node`
    returns (its last statement; `@x ||= value` gives `value`), or None when there is no such
    method or it ends otherwise."""
    owner = app.enclosing_class(node)
    definition = app.classes.find_method(owner, name) if owner is not None else None
    if definition is None or definition.signature.required:
        return None
    method = definition.node()
    if method is None:
        return None
    body = method.child_by_field_name("body")
    statements = [c for c in body.named_children if c.type != "comment"] if body is not None else []
    if not statements:
        return None
    last = statements[-1]
    if last.type == "return" and last.named_child_count == 1:
        last = last.named_children[0]
        if last.type == "argument_list" and last.named_child_count == 1:
            last = last.named_children[0]
    if last.type == "operator_assignment":
        return last.child_by_field_name("right")
    if last.type in ("if", "unless", "case", "begin", "rescue_modifier"):
        return None
    return last


def _association_record(call: Node, app: App, depth: int) -> str | None:
    """`order.customer` where `customer` is a belongs_to/has_one association of the record's
    model: a record of the associated model."""
    if ruby.call_arguments(call) or ruby.call_block(call) is not None:
        return None
    receiver = ruby.call_receiver(call)
    if receiver is None or receiver.type == "constant":
        return None
    owner = record_model(receiver, app, depth + 1)
    if owner is None:
        return None
    association = models.associations(app, owner).get(ruby.call_method(call))
    if association is None or association.kind not in ("belongs_to", "has_one"):
        return None
    written = association.class_name or camelize(association.name, {})
    scope = (
        app.classes.definitions[owner][0].lexical_scope + (owner,) if owner in app.classes else ()
    )
    target = app.classes.resolve(written, scope)
    return target if target in app.model_classes else None


def _model_chain(call: Node, app: App) -> str | None:
    """The model a method chain is rooted at, through relation-returning methods only."""
    model = app.chain_model(call)
    if model is None:
        return None
    return None if set(ruby.chain_methods(call)) & NOT_RECORDS else model


def _current_record(call: Node, app: App) -> str | None:
    """`current_user`, or `Current.user` where `user` names a model."""
    receiver = ruby.call_receiver(call)
    method = ruby.call_method(call)
    if receiver is None:
        return None
    if ruby.constant_path(receiver) == "Current":
        return app.model_names.get(method)
    return None


def _iterated_model(call: Node, app: App) -> str | None:
    receiver = ruby.call_receiver(call)
    if ruby.call_method(call) not in ITERATORS or receiver is None:
        return None
    return _model_chain(receiver, app)


DATA_TYPES = frozenset(
    {
        "string", "integer", "float", "simple_symbol", "array", "hash", "nil", "true", "false",
        "element_reference", "binary", "interpolation", "string_array", "symbol_array",
    }
)
DATA_METHODS = frozenset(
    {"to_s", "to_i", "to_f", "to_sym", "to_param", "to_gid", "to_global_id", "to_sgid", "to_h"}
)
COPIES = frozenset({"freeze", "dup", "presence"})  # same kind of value as the receiver
REQUEST_DATA = frozenset({"params"})  # `params.require(:event)` is request data, never a record


def _plainly_data(value: Node) -> bool:
    """Values that are clearly not a record: literals, `params[...]`, ids and conversions."""
    if value.type in DATA_TYPES:
        return True
    if value.type == "call":
        method = ruby.call_method(value)
        if method in NOT_RECORDS or method in DATA_METHODS or method.endswith("_id"):
            return True
        root = ruby.chain_root(value)
        if root.type in ("identifier", "call") and ruby.text(root) in REQUEST_DATA:
            return True
        receiver = ruby.call_receiver(value)
        return method in COPIES and receiver is not None and _plainly_data(receiver)
    return False


def _holds_data(parameter: str, node: Node) -> bool:
    """Is `parameter` of the method around `node` declared with a plain-data default value
    (`action: "reindex"`, or a constant the file assigns plain data: `action: DEFAULT_ACTION`)?"""
    method = ruby.enclosing(node, ruby.METHOD_TYPES)
    params = method.child_by_field_name("parameters") if method is not None else None
    for param in params.named_children if params is not None else ():
        if param.type not in ("optional_parameter", "keyword_parameter"):
            continue
        name, default = param.child_by_field_name("name"), param.child_by_field_name("value")
        if name is not None and default is not None and ruby.text(name) == parameter:
            return _plainly_data(default) or _data_constant(default)
    return False


def _data_constant(value: Node) -> bool:
    """A constant that its file assigns plain data: `DEFAULT_ACTION = "reindex".freeze`."""
    if value.type != "constant":
        return False
    root = value
    while root.parent is not None:
        root = root.parent
    name = ruby.text(value)
    for assignment in ruby.descendants(root, {"assignment"}):
        left = assignment.child_by_field_name("left")
        if left is not None and left.type == "constant" and ruby.text(left) == name:
            right = assignment.child_by_field_name("right")
            return right is not None and _plainly_data(right)
    return False


_last_owner: tuple[int, dict[str, list[Node]]] | None = None  # one class at a time


def _ivar_values(owner: Node) -> dict[str, list[Node]]:
    """Every value assigned to each instance variable in a class (`@x = v`, `@x ||= v`), in
    document order (cached for the class being checked: rules look at one file's classes in
    turn): what `(assignment left: (instance_variable) @ivar right: (_) @value)` and its
    `operator_assignment` twin find below the class, found from where `@` is written."""
    global _last_owner
    if _last_owner is None or _last_owner[0] != owner.id:
        table: dict[str, list[Node]] = {}
        for assignment, ivar in _ivar_assignments(owner):
            value = assignment.child_by_field_name("right")
            if value is not None:
                table.setdefault(ruby.text(ivar), []).append(value)
        _last_owner = (owner.id, table)
    return _last_owner[1]


def _ivar_assignments(owner: Node) -> list[tuple[Node, Node]]:
    found = []
    for leaf in ruby.written_at(owner, owner.text or b"", b"@", owner.start_byte):
        if leaf.type == "instance_variable":
            path = ruby.path_to(owner, leaf)
            parent = path[-1] if path else None
            if (parent is not None and parent.type in ("assignment", "operator_assignment")
                    and len(path) - 1 <= ruby.MAX_ASCENT and ruby.is_child(parent, "left", leaf)):
                found.append((parent, leaf))
    return found


def _stored_data(ivar: str, node: Node) -> bool:
    """Does the class around `node` assign instance variable `ivar` only plain data — literals,
    or a parameter with a plain-data default (`@action = action` with `action: "reindex"`)?
    An attribute reader or `@ivar` read in another method then holds data, whatever its name."""
    owner = ruby.enclosing(node, {"class", "module"})
    if owner is None:
        return False
    values = _ivar_values(owner).get(ivar, [])
    return bool(values) and all(
        _plainly_data(value)
        or (value.type == "identifier" and _holds_data(ruby.text(value), value))
        for value in values
    )


# -- records destroyed after a call -----------------------------------------------------------

DESTROYS = frozenset({"destroy", "destroy!", "delete", "really_destroy!"})
_BRANCHING = frozenset({"if", "unless", "case", "case_match", "elsif", "conditional"})


def chain_arguments(call: Node) -> list[Node]:
    """The arguments along `Mailer.with(a).action(b).deliver_later` (or `Job.set(..).perform_later(x)`)."""
    found: list[Node] = []
    node: Node | None = call
    while node is not None and node.type == "call":
        found.extend(ruby.call_arguments(node))
        node = ruby.call_receiver(node)
    return found


def destroyed_after(call: Node, value: Node) -> Node | None:
    """The `value.destroy` / `destroy!` / `delete` (argument-less; for `self`, a bare `destroy`)
    later in the method of `call`, on a path that can follow it: not in another branch of an
    `if`/`case` that holds the call. None when there is none."""
    method = ruby.enclosing(call, ruby.METHOD_TYPES)
    if method is None or value.type not in ("identifier", "instance_variable", "self"):
        return None
    name = ruby.text(value)
    for later in ruby.descendants(method, {"call", "identifier"}):
        if later.start_byte <= call.end_byte:
            continue
        if later.type == "identifier":  # a bare `destroy` in the model's own method
            if value.type != "self" or ruby.text(later) not in DESTROYS or later.parent is None:
                continue
            if later.parent.type == "call" or ruby.last_assignment(ruby.text(later), later):
                continue
            if not _exclusive_branches(call, later):
                return later
            continue
        if ruby.call_method(later) not in DESTROYS or ruby.call_arguments(later):
            continue  # `list.delete(x)`: not a record's own deletion
        receiver = ruby.call_receiver(later)
        if receiver is None:
            if value.type != "self":
                continue
        elif ruby.text(receiver) != name:
            continue
        if not _exclusive_branches(call, later):
            return later
    return None


def _exclusive_branches(first: Node, second: Node) -> bool:
    """Do the two nodes sit in different branches of one `if`/`unless`/`case`/ternary?"""
    for ancestor in ruby.ancestors(second):
        if ancestor.type in ruby.METHOD_TYPES:
            return False
        if ancestor.type in _BRANCHING and ruby.is_inside(first, ancestor):
            branch_of_first = _branch(first, ancestor)
            branch_of_second = _branch(second, ancestor)
            return branch_of_first is not None and branch_of_first != branch_of_second
    return False


def _branch(node: Node, conditional: Node) -> int | None:
    """Which child of `conditional` holds `node` (its index), None for the condition itself."""
    condition = conditional.child_by_field_name("condition") or conditional.child_by_field_name(
        "value"
    )
    for index, child in enumerate(conditional.children):
        if ruby.is_inside(node, child):
            return None if condition is not None and child == condition else index
    return None
