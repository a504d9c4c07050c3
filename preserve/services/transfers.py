"""(placeholder: issue 11 fills this in)"""
