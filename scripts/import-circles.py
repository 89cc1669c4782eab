#!/usr/bin/env python3
# Counts import circles between files of src/ (pairs of .rs files that reach each other through
# `crate::` or `super::` paths outside test modules), for the module-shape figures of benches/RESULTS.md
# and the closing notes. Usage: scripts/import-circles.py [REPO_ROOT]
import os, re, sys

root=sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
src=os.path.join(root,'src')
files={}
for dp,dn,fn in os.walk(src):
    for f in fn:
        if f.endswith('.rs'):
            p=os.path.join(dp,f); files[os.path.relpath(p,src)]=open(p).read()
def modpath(rel):
    parts=rel[:-3].split('/')
    if parts[-1] in ('mod','lib','main'): parts=parts[:-1]
    return parts
mods={tuple(modpath(r)):r for r in files}
def resolve(parts):
    # longest prefix that is a module file
    for i in range(len(parts),0,-1):
        if tuple(parts[:i]) in mods: return mods[tuple(parts[:i])]
    return None
edges=set()
for rel,text in files.items():
    me=modpath(rel)
    # strip test modules
    text=text.split('#[cfg(test)]')[0]
    for m in re.finditer(r'\b(crate|super)((?:::\w+)+)',text):
        head=m.group(1); rest=m.group(2).strip(':').split('::')
        base = [] if head=='crate' else (me[:-1] if not rel.endswith('mod.rs') else me[:-1])
        if head=='super':
            # super of file module = parent module
            base = me[:-1]
            while rest and rest[0]=='super': base=base[:-1]; rest=rest[1:]
        tgt=resolve(base+rest)
        if tgt and tgt!=rel: edges.add((rel,tgt))
cyc=sorted({tuple(sorted((a,b))) for a,b in edges if (b,a) in edges})
print(len(cyc))
for c in cyc: print('  ',c[0],'<->',c[1])
