# Placeholder until the file server lands (being written now).
app_name = "files"
urlpatterns: list = []
