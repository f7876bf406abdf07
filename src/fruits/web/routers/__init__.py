"""One module per resource: home (the run), images (browse, item pages, photo bytes), identify, evaluation."""
