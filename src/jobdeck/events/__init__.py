"""Change feed plumbing: wake-up signals and the feed subscribers follow."""
