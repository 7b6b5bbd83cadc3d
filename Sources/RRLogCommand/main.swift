print("rrlog")
