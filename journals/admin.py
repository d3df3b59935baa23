from django.contrib import admin

from .models import JournalFormat


@admin.register(JournalFormat)
class JournalFormatAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "default_account", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "description"]
