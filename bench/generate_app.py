"""Write a synthetic Rails app of N jobs, models and controllers, for benchmarks.

    python bench/generate_app.py /tmp/synthetic --jobs 2000
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

JOB = """class {name}Job < ApplicationJob
  queue_as :default
  retry_on Timeout::Error, attempts: 3

  def perform({model}_id, options = {{}})
    {model} = {cls}.find({model}_id)
    return if {model}.processed?

    {model}.items.find_each do |item|
      item.update!(state: "done", total: item.price * 2)
    end
    {model}.increment!(:runs) if options[:count]
    Notify{name}Job.perform_later({model}.id)
  end
end
"""
MODEL = """class {cls} < ApplicationRecord
  belongs_to :account
  has_many :items

  after_commit on: :create do
    {name}Job.perform_later(id)
  end

  def processed?
    state == "processed"
  end
end
"""
CONTROLLER = """class {name}sController < ApplicationController
  def create
    {model} = {cls}.create!(params.require(:{model}).permit(:name))
    {name}Job.perform_later({model}.id)
    redirect_to {model}, notice: "Created"
  end

  def show
    @{model} = {cls}.find(params[:id])
  end
end
"""
HELPER = """module {name}Helper
  def {model}_title({model})
    content_tag(:h1, {model}.name, class: "title")
  end
end
"""


def generate(root: Path, jobs: int) -> None:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "application.rb").write_text("config.load_defaults 7.2\n")
    (root / "Gemfile").write_text('gem "rails"\n')
    (root / "Gemfile.lock").write_text("GEM\n  specs:\n    rails (7.2.2)\n    sidekiq (7.3.0)\n")
    for sub in ("jobs", "models", "controllers", "helpers"):
        (root / "app" / sub).mkdir(parents=True, exist_ok=True)
    (root / "app/jobs/application_job.rb").write_text("class ApplicationJob < ActiveJob::Base\nend\n")
    for index in range(jobs):
        name = f"Thing{index}"
        values = {"name": name, "cls": name, "model": f"thing{index}"}
        (root / f"app/jobs/thing{index}_job.rb").write_text(JOB.format(**values))
        (root / f"app/models/thing{index}.rb").write_text(MODEL.format(**values))
        (root / f"app/controllers/thing{index}s_controller.rb").write_text(CONTROLLER.format(**values))
        (root / f"app/helpers/thing{index}_helper.rb").write_text(HELPER.format(**values))
    # written an hour ago, as an app's files are: a warm run trusts file times that old, and
    # reads (and hashes) a file written within seconds of the run that cached it
    past = time.time() - 3600
    for directory, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(directory, name), (past, past))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    generate(args.root, args.jobs)


def app_from_arguments(description: str | None) -> tuple[Path, argparse.Namespace]:
    """The benchmarks' command line: `PATH` or `--synthetic N` (an app generated in a
    temporary directory), and `--repeat`. Returns the app's root and the arguments."""
    import sys
    import tempfile

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("path", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic", type=int, metavar="JOBS",
                        help="generate an app of JOBS jobs: four Ruby files each (2500: 10,000 files)")
    args = parser.parse_args(sys.argv[1:])
    if args.synthetic:
        root = Path(tempfile.mkdtemp(prefix="joblint-bench-"))
        generate(root, args.synthetic)
    elif args.path:
        root = args.path.resolve()
    else:
        parser.error("give a PATH or --synthetic N")
    return root, args
