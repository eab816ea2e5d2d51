"""The exception hierarchy: Ruby's and Rails' common exceptions as data, plus the project's own.

A handler for `A` catches `B` when `B` is `A` or one of its descendants (`A === error`). The
table lists each class with its superclass first and then the modules it includes (a module
such as `Net::SMTPError` matches by `===` as well). An exception whose chain does not reach
`Exception` through known names is unknown, and questions about it answer None.
"""

from __future__ import annotations

from .app import App
from .classes import ClassIndex

# name → (superclass, *included modules); the roots `Exception` and modules map to ().
_PARENTS: dict[str, tuple[str, ...]] = {
    "Exception": (),
    # Ruby core
    "NoMemoryError": ("Exception",),
    "ScriptError": ("Exception",),
    "LoadError": ("ScriptError",),
    "NotImplementedError": ("ScriptError",),
    "SyntaxError": ("ScriptError",),
    "SecurityError": ("Exception",),
    "SignalException": ("Exception",),
    "Interrupt": ("SignalException",),
    "SystemExit": ("Exception",),
    "SystemStackError": ("Exception",),
    "StandardError": ("Exception",),
    "ArgumentError": ("StandardError",),
    "UncaughtThrowError": ("ArgumentError",),
    "EncodingError": ("StandardError",),
    "Encoding::CompatibilityError": ("EncodingError",),
    "Encoding::ConverterNotFoundError": ("EncodingError",),
    "Encoding::InvalidByteSequenceError": ("EncodingError",),
    "Encoding::UndefinedConversionError": ("EncodingError",),
    "FiberError": ("StandardError",),
    "IOError": ("StandardError",),
    "EOFError": ("IOError",),
    "IndexError": ("StandardError",),
    "KeyError": ("IndexError",),
    "StopIteration": ("IndexError",),
    "ClosedQueueError": ("StopIteration",),
    "LocalJumpError": ("StandardError",),
    "NameError": ("StandardError",),
    "NoMethodError": ("NameError",),
    "RangeError": ("StandardError",),
    "FloatDomainError": ("RangeError",),
    "RegexpError": ("StandardError",),
    "RuntimeError": ("StandardError",),
    "FrozenError": ("RuntimeError",),
    "SystemCallError": ("StandardError",),
    "ThreadError": ("StandardError",),
    "TypeError": ("StandardError",),
    "ZeroDivisionError": ("StandardError",),
    "NoMatchingPatternError": ("StandardError",),
    "NoMatchingPatternKeyError": ("NoMatchingPatternError",),
    "IO::TimeoutError": ("IOError",),
    # stdlib
    "Timeout::Error": ("RuntimeError",),
    "Timeout::ExitException": ("Exception",),
    "SocketError": ("StandardError",),
    "IO::WaitReadable": (),
    "IO::EAGAINWaitReadable": ("Errno::EAGAIN", "IO::WaitReadable"),
    "OpenSSL::OpenSSLError": ("StandardError",),
    "OpenSSL::SSL::SSLError": ("OpenSSL::OpenSSLError",),
    "OpenSSL::SSL::SSLErrorWaitReadable": ("OpenSSL::SSL::SSLError", "IO::WaitReadable"),
    "JSON::JSONError": ("StandardError",),
    "JSON::ParserError": ("JSON::JSONError",),
    "JSON::GeneratorError": ("JSON::JSONError",),
    "URI::Error": ("StandardError",),
    "URI::InvalidURIError": ("URI::Error",),
    "URI::InvalidComponentError": ("URI::Error",),
    "CSV::MalformedCSVError": ("RuntimeError",),
    "Zlib::Error": ("StandardError",),
    "Zlib::GzipFile::Error": ("Zlib::Error",),
    "Psych::Exception": ("RuntimeError",),
    "Psych::SyntaxError": ("Psych::Exception",),
    "Psych::DisallowedClass": ("Psych::Exception",),
    # net/protocol, net/http, net/smtp
    "Net::ReadTimeout": ("Timeout::Error",),
    "Net::OpenTimeout": ("Timeout::Error",),
    "Net::WriteTimeout": ("Timeout::Error",),
    "Net::ProtocolError": ("StandardError",),
    "Net::ProtoSyntaxError": ("Net::ProtocolError",),
    "Net::ProtoFatalError": ("Net::ProtocolError",),
    "Net::ProtoUnknownError": ("Net::ProtocolError",),
    "Net::ProtoServerError": ("Net::ProtocolError",),
    "Net::ProtoAuthError": ("Net::ProtocolError",),
    "Net::ProtoCommandError": ("Net::ProtocolError",),
    "Net::ProtoRetriableError": ("Net::ProtocolError",),
    "Net::HTTPBadResponse": ("StandardError",),
    "Net::HTTPHeaderSyntaxError": ("StandardError",),
    "Net::HTTPError": ("Net::ProtocolError",),
    "Net::HTTPRetriableError": ("Net::ProtoRetriableError",),
    "Net::HTTPServerException": ("Net::ProtoServerError",),
    "Net::HTTPClientException": ("Net::ProtoServerError",),
    "Net::HTTPFatalError": ("Net::ProtoFatalError",),
    "Net::SMTPError": (),  # a module in net-smtp, included by the SMTP errors
    "Net::SMTPAuthenticationError": ("Net::ProtoAuthError", "Net::SMTPError"),
    "Net::SMTPServerBusy": ("Net::ProtoServerError", "Net::SMTPError"),
    "Net::SMTPSyntaxError": ("Net::ProtoSyntaxError", "Net::SMTPError"),
    "Net::SMTPFatalError": ("Net::ProtoFatalError", "Net::SMTPError"),
    "Net::SMTPUnknownError": ("Net::ProtoUnknownError", "Net::SMTPError"),
    "Net::SMTPUnsupportedCommand": ("Net::ProtocolError", "Net::SMTPError"),
    # Active Record
    "ActiveRecord::ActiveRecordError": ("StandardError",),
    "ActiveRecord::RecordNotFound": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::RecordInvalid": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::RecordNotSaved": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::RecordNotDestroyed": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::SoleRecordExceeded": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::StaleObjectError": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::ReadOnlyRecord": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::Rollback": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::AssociationTypeMismatch": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::SerializationTypeMismatch": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::AdapterError": ("ActiveRecord::ActiveRecordError",),
    "ActiveRecord::ConnectionNotEstablished": ("ActiveRecord::AdapterError",),
    "ActiveRecord::DatabaseConnectionError": ("ActiveRecord::ConnectionNotEstablished",),
    "ActiveRecord::ConnectionTimeoutError": ("ActiveRecord::ConnectionNotEstablished",),
    "ActiveRecord::ExclusiveConnectionTimeoutError": ("ActiveRecord::ConnectionTimeoutError",),
    "ActiveRecord::StatementInvalid": ("ActiveRecord::AdapterError",),
    "ActiveRecord::WrappedDatabaseException": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::RecordNotUnique": ("ActiveRecord::WrappedDatabaseException",),
    "ActiveRecord::InvalidForeignKey": ("ActiveRecord::WrappedDatabaseException",),
    "ActiveRecord::NotNullViolation": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::ValueTooLong": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::RangeError": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::PreparedStatementCacheExpired": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::TransactionRollbackError": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::SerializationFailure": ("ActiveRecord::TransactionRollbackError",),
    "ActiveRecord::Deadlocked": ("ActiveRecord::TransactionRollbackError",),
    "ActiveRecord::LockWaitTimeout": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::QueryAborted": ("ActiveRecord::StatementInvalid",),
    "ActiveRecord::StatementTimeout": ("ActiveRecord::QueryAborted",),
    "ActiveRecord::QueryCanceled": ("ActiveRecord::QueryAborted",),
    "ActiveRecord::AdapterTimeout": ("ActiveRecord::QueryAborted",),
    "ActiveRecord::ConnectionFailed": ("ActiveRecord::QueryAborted",),
    "ActiveModel::ValidationError": ("StandardError",),
    # Active Job, Action Mailer, Action View, Active Storage, Active Support
    "ActiveJob::DeserializationError": ("StandardError",),
    "ActiveJob::SerializationError": ("ArgumentError",),
    "ActionView::ActionViewError": ("StandardError",),
    "ActionView::MissingTemplate": ("ActionView::ActionViewError",),
    "ActionView::Template::Error": ("ActionView::ActionViewError",),
    "ActiveStorage::Error": ("StandardError",),
    "ActiveStorage::FileNotFoundError": ("ActiveStorage::Error",),
    "ActiveStorage::IntegrityError": ("ActiveStorage::Error",),
    "ActiveStorage::PreviewError": ("ActiveStorage::Error",),
    "ActiveStorage::InvariableError": ("ActiveStorage::Error",),
    "ActiveSupport::MessageVerifier::InvalidSignature": ("StandardError",),
    "ActiveSupport::MessageEncryptor::InvalidMessage": ("StandardError",),
    # Sidekiq
    "Sidekiq::Shutdown": ("Interrupt",),
    # Faraday 2
    "Faraday::Error": ("StandardError",),
    "Faraday::ClientError": ("Faraday::Error",),
    "Faraday::BadRequestError": ("Faraday::ClientError",),
    "Faraday::UnauthorizedError": ("Faraday::ClientError",),
    "Faraday::ForbiddenError": ("Faraday::ClientError",),
    "Faraday::ResourceNotFound": ("Faraday::ClientError",),
    "Faraday::ProxyAuthError": ("Faraday::ClientError",),
    "Faraday::RequestTimeoutError": ("Faraday::ClientError",),
    "Faraday::ConflictError": ("Faraday::ClientError",),
    "Faraday::UnprocessableEntityError": ("Faraday::ClientError",),
    "Faraday::TooManyRequestsError": ("Faraday::ClientError",),
    "Faraday::ServerError": ("Faraday::Error",),
    "Faraday::TimeoutError": ("Faraday::ServerError",),
    "Faraday::NilStatusError": ("Faraday::ServerError",),
    "Faraday::ConnectionFailed": ("Faraday::Error",),
    "Faraday::SSLError": ("Faraday::Error",),
    "Faraday::ParsingError": ("Faraday::Error",),
    "Faraday::RetriableResponse": ("Faraday::Error",),
    # redis-rb
    "Redis::BaseError": ("StandardError",),
    "Redis::CommandError": ("Redis::BaseError",),
    "Redis::BaseConnectionError": ("Redis::BaseError",),
    "Redis::CannotConnectError": ("Redis::BaseConnectionError",),
    "Redis::ConnectionError": ("Redis::BaseConnectionError",),
    "Redis::TimeoutError": ("Redis::BaseConnectionError",),
    # http.rb
    "HTTP::Error": ("StandardError",),
    "HTTP::ConnectionError": ("HTTP::Error",),
    "HTTP::RequestError": ("HTTP::Error",),
    "HTTP::ResponseError": ("HTTP::Error",),
    "HTTP::StateError": ("HTTP::ResponseError",),
    "HTTP::TimeoutError": ("HTTP::Error",),
    "HTTP::ConnectTimeoutError": ("HTTP::TimeoutError",),
    # Stripe
    "Stripe::StripeError": ("StandardError",),
    "Stripe::APIError": ("Stripe::StripeError",),
    "Stripe::APIConnectionError": ("Stripe::StripeError",),
    "Stripe::AuthenticationError": ("Stripe::StripeError",),
    "Stripe::CardError": ("Stripe::StripeError",),
    "Stripe::InvalidRequestError": ("Stripe::StripeError",),
    "Stripe::PermissionError": ("Stripe::StripeError",),
    "Stripe::RateLimitError": ("Stripe::StripeError",),
    "Stripe::IdempotencyError": ("Stripe::StripeError",),
}
KNOWN_EXCEPTIONS = frozenset(_PARENTS)


def builtin_parents(name: str) -> tuple[str, ...] | None:
    """The table's parents of a framework exception; `Errno::*` are SystemCallErrors."""
    name = name.removeprefix("::")
    if name in _PARENTS:
        return _PARENTS[name]
    if name.startswith("Errno::") and name.count("::") == 1:
        return ("SystemCallError",)
    return None


class ExceptionHierarchy:
    """Framework exceptions from the table plus the project's exception classes."""

    def __init__(self, classes: ClassIndex):
        self.classes = classes
        self._ancestors: dict[str, frozenset[str] | None] = {}

    def _parents(self, name: str) -> tuple[str, ...] | None:
        if name in self.classes:
            parents = list(self.classes.mixins(name))
            superclass = self.classes.superclass(name)
            if superclass is not None:
                parents.insert(0, superclass)
            elif not self.classes.definitions[name][0].is_module:
                # `class Foo; end` is no exception; a reopened framework class keeps its parents
                builtin = builtin_parents(name)
                return None if builtin is None else builtin + tuple(parents)
            return tuple(parents)
        return builtin_parents(name)

    def ancestors(self, name: str) -> frozenset[str] | None:
        """Every class and module `name` is a kind of (itself included), when its chain reaches
        `Exception` through known names; None otherwise."""
        name = name.removeprefix("::")
        if name in self._ancestors:
            return self._ancestors[name]
        self._ancestors[name] = None  # cycle guard
        result: set[str] | None = {name}
        known_root = name == "Exception"
        for index, parent in enumerate(self._parents(name) or ()):
            found = self.ancestors(parent)
            if found is None:
                if index == 0:  # an unknown superclass makes the whole chain unknown
                    result = None
                    break
                continue  # an unknown extra module only loses that module
            assert result is not None
            result |= found
            known_root = known_root or "Exception" in found
        if builtin_parents(name) == () or (
            name in self.classes and self.classes.definitions[name][0].is_module
        ):
            known_root = True  # a module tags exceptions (`Net::SMTPError`, `include Retryable`)
        value = frozenset(result) if result is not None and known_root else None
        self._ancestors[name] = value
        return value

    def is_a(self, child: str, parent: str) -> bool | None:
        """Does a handler for `parent` catch `child`? None when `child`'s chain is unknown."""
        child = child.removeprefix("::")
        parent = parent.removeprefix("::")
        if child == parent:
            return True
        found = self.ancestors(child)
        return None if found is None else parent in found

    def project_exceptions(self) -> list[str]:
        """The project's classes whose chain reaches `Exception`."""
        return [
            name
            for name in self.classes.names()
            if not self.classes.definitions[name][0].is_module
            and (self.ancestors(name) or frozenset()) >= {"Exception"}
        ]


def exception_hierarchy(app: App) -> ExceptionHierarchy:
    return app.fact("exception_hierarchy", lambda a: ExceptionHierarchy(a.classes))
