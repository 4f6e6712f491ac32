"""How data/isic2016/ was made (run once by a developer; needs Pillow; not used at run time).

Takes the first 320 images, in file-name order, of the downscaled ISIC 2016 Task 3 training set
(../shared/data/isic2016-256/, longer side 256 px), resizes each with Lanczos so that its longer
side is 112 px (aspect kept), saves JPEG quality 90, and writes the labels of exactly those
images. The trainer squash-resizes to 64 x 64 itself.
"""
import csv
import os
import sys

from PIL import Image

src = sys.argv[1] if len(sys.argv) > 1 else "../../shared/data/isic2016-256"
dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), "isic2016")
COUNT, SIDE = 320, 112

labels = {}
with open(os.path.join(src, "ISBI2016_ISIC_Part3_Training_GroundTruth.csv")) as f:
    for row in csv.reader(f):
        if len(row) >= 2:
            labels[row[0].strip()] = row[1].strip()

names = sorted(n for n in os.listdir(src) if n.endswith(".jpg"))[:COUNT]
os.makedirs(dst, exist_ok=True)
with open(os.path.join(dst, "labels.csv"), "w", newline="") as out:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["image", "label"])
    for n in names:
        im = Image.open(os.path.join(src, n)).convert("RGB")
        s = SIDE / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
        im.save(os.path.join(dst, n), quality=90)
        w.writerow([n[:-4], labels[n[:-4]]])
print(len(names), "images written to", dst)
