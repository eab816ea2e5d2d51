"""The project model. Importing the package registers the native-jobs lookup with the App
(`App.job_kind_at` then knows Delayed Job and Resque jobs) without the App importing it."""

from . import native_jobs  # noqa: F401
