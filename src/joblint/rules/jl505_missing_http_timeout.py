from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import call_path, head_hit

# Calls that open a connection with their own settings: dotted path → how to set timeouts.
HTTP_CALLS = {
    "Net::HTTP.start": "`open_timeout:`/`read_timeout:`",
    "Net::HTTP.get": "`Net::HTTP.start(…, open_timeout:, read_timeout:)`",
    "Net::HTTP.get_response": "`Net::HTTP.start(…, open_timeout:, read_timeout:)`",
    "Net::HTTP.post": "`Net::HTTP.start(…, open_timeout:, read_timeout:)`",
    "Net::HTTP.post_form": "`Net::HTTP.start(…, open_timeout:, read_timeout:)`",
    "Faraday.new": "`request: { timeout:, open_timeout: }`",
    "HTTParty.get": "`timeout:`",
    "HTTParty.post": "`timeout:`",
    "HTTParty.put": "`timeout:`",
    "HTTParty.patch": "`timeout:`",
    "HTTParty.delete": "`timeout:`",
    "RestClient::Request.execute": "`timeout:`",
}
# Net::HTTP class methods with no way to pass a timeout.
NO_OPTIONS = frozenset({"Net::HTTP.get", "Net::HTTP.get_response", "Net::HTTP.post", "Net::HTTP.post_form"})
_CALLS = ruby.compile_query(
    """
    (call receiver: [(constant) (scope_resolution)]
      method: (identifier) @method
      (#any-of? @method "start" "get" "get_response" "post" "post_form" "new" "put" "patch"
                        "delete" "execute")) @call
    """
)
OPTION_KEYS = frozenset({"request", "options", "http_options", "connection_options"})
LITERAL_TYPES = frozenset({"string", "simple_symbol", "integer", "true", "false", "nil", "pair", "hash"})


@register
class MissingHttpTimeout(Rule):
    """
    ## What it does
    Finds, in a job, HTTP clients created or called without a timeout: `Net::HTTP.start`
    without `open_timeout:`/`read_timeout:`, `Net::HTTP.get`/`get_response`/`post`/
    `post_form` (which cannot take one), `Faraday.new` without a timeout option,
    `HTTParty.get`/`post`/`put`/`patch`/`delete` without `timeout:`, and
    `RestClient::Request.execute` without `timeout:`.

    ## Why is this bad?
    A remote server that accepts the connection and then stalls keeps the job waiting for the
    library's default — 60 seconds per read for Net::HTTP and the clients built on it, and
    each retried request waits again. Meanwhile the job holds a worker thread and its
    database connection; a few slow partners are enough to stop a queue. A short explicit
    timeout turns the stall into an error that `retry_on` can back off from.

    Calls that set any timeout option (in the arguments, in a nested `request:` hash, or in
    the client's block such as `http.read_timeout = 5`), calls that pass options joblint
    cannot read (`**options`, an options variable), and clients built elsewhere (a `Faraday`
    connection configured in an initializer and used in the job) are not reported.

    Off by default: Net::HTTP (and HTTParty and Faraday's default adapter on top of it) already
    gives up after 60 seconds, so whether a shorter timeout is worth it depends on the queue's
    traffic, which joblint cannot see; on real apps none of the sampled findings was worth
    changing. Turn it on with `--extend-select JL505` for queues where a minute matters.

    ## Example
    ```ruby
    def perform(url)
      Faraday.new(url: url).post("/hooks", payload)
    end
    ```

    ## Use instead
    ```ruby
    def perform(url)
      Faraday.new(url: url, request: { open_timeout: 2, timeout: 10 }).post("/hooks", payload)
    end
    ```
    """

    code = "JL505"
    name = "missing-http-timeout"
    severity = Severity.WARNING
    default_enabled = False  # Net::HTTP's 60 s defaults bound most clients; see the docstring
    scope = "file"
    summary = "An HTTP call in a job without a timeout"
    message = "`{call}` in a job has no timeout: a stalled server holds the worker; set {how}"
    help = "Set short open and read timeouts so a stall becomes an error retry_on can handle"
    triggers = ("Net::HTTP", "Faraday", "HTTParty", "RestClient")

    examples = Examples(
        bad=[
            {
                "app/jobs/webhook_job.rb": """
                class WebhookJob < ApplicationJob
                  retry_on Faraday::Error

                  def perform(url, payload)
                    connection = Faraday.new(url: url) do |f| # expect: JL505
                      f.request :json
                    end
                    connection.post("/hooks", payload)
                    HTTParty.post(url, body: payload.to_json) # expect: JL505
                  end
                end
                """,
            },
            {
                "app/workers/fetch_worker.rb": """
                class FetchWorker
                  include Sidekiq::Job

                  def perform(url)
                    uri = URI(url)
                    Net::HTTP.start(uri.host, uri.port, use_ssl: true) do |http| # expect: JL505
                      http.get(uri.path)
                    end
                    Net::HTTP.get(uri) # expect: JL505
                    RestClient::Request.execute(method: :get, url: url) # expect: JL505
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/webhook_job.rb": """
                class WebhookJob < ApplicationJob
                  retry_on Faraday::Error

                  def perform(url, payload)
                    Faraday.new(url: url, request: { open_timeout: 2, timeout: 10 }).post("/", payload)
                    Faraday.new(url: url) { |f| f.options.timeout = 10 }
                    HTTParty.post(url, body: payload.to_json, timeout: 10)
                    RestClient::Request.execute(method: :get, url: url, timeout: 10)
                    HTTParty.get(url, http_options)
                    API_CLIENT.post("/hooks", payload)
                  end
                end
                """,
                "config/initializers/api_client.rb": """
                API_CLIENT = Faraday.new(url: ENV["API_URL"])
                """,
            },
            {
                "app/workers/fetch_worker.rb": """
                class FetchWorker
                  include Sidekiq::Job

                  def perform(url)
                    uri = URI(url)
                    Net::HTTP.start(uri.host, uri.port, open_timeout: 2, read_timeout: 10) do |http|
                      http.get(uri.path)
                    end
                    Net::HTTP.start(uri.host, uri.port) do |http|
                      http.read_timeout = 10
                      http.get(uri.path)
                    end
                    Net::HTTP.start(uri.host, uri.port, **ssl_options) { |http| http.head("/") }
                  end
                end
                """,
                "app/services/fetcher.rb": """
                class Fetcher
                  def call(url) = Net::HTTP.get(URI(url))
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_CALLS, source.root):
            call = caps["call"][0]
            path = (call_path(call) or "").removeprefix("::")
            if path not in HTTP_CALLS:
                continue
            if path not in NO_OPTIONS and not _lacks_timeout(call):
                continue
            if app.job_kind_at(source, call) is None:
                continue
            yield head_hit(call, call=path, how=HTTP_CALLS[path])


def _lacks_timeout(call: Node) -> bool:
    """No timeout anywhere in the arguments or the block, and no options joblint cannot read."""
    arguments = ruby.call_arguments(call)
    for argument in arguments:
        if argument.type in ("hash_splat_argument", "splat_argument"):
            return False
        for node in ruby.walk(argument):
            if node.type != "pair":
                continue
            key = ruby.pair_key(node) or ""
            value = node.child_by_field_name("value")
            if "timeout" in key:
                return False
            if key in OPTION_KEYS and value is not None and value.type != "hash":
                return False  # `request: request_options`: set elsewhere
    if _options_variable(call, arguments):
        return False
    block = ruby.call_block(call)
    return block is None or b"timeout" not in (block.text or b"")


def _options_variable(call: Node, arguments: list[Node]) -> bool:
    """An options hash passed as a variable (`HTTParty.get(url, options)`), which may hold one.
    Net::HTTP.start's positional arguments are host, port and proxy settings, not options."""
    if ruby.call_method(call) == "start":
        return False
    positional = [a for a in arguments if a.type != "pair" and a.type != "block_argument"]
    first_options = 0 if ruby.call_method(call) in ("new", "execute") else 1
    return any(a.type not in LITERAL_TYPES for a in positional[first_options:]) or (
        ruby.call_method(call) == "new" and len(positional) >= 2
    )
