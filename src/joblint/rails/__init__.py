"""The project model. Importing the package registers the native-jobs lookup with the App
(`App.job_kind_at` then knows Delayed Job and Resque jobs) without the App importing it, and the
per-file facts' builders (`file_facts.BUILDERS`), which the processes extracting the class index
on several cores build from their trees."""

from . import models, native_jobs, retries, wrappers  # noqa: F401
