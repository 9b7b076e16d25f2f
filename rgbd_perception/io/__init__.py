"""Reading and writing the image and depth files of the offline command line."""
