"""The `jira` plugin: export tickets to Jira Cloud (hooks are added by the plugin itself)."""
