"""Experiment (issue 14): do the words of a prefix-phrase trigger stand out in the first adapted layer
when each word is read at the position a prefix puts it (1, 2, 3) instead of at the mean position?

TriggerCandidates ranks every whole vocabulary word by the largest robust z-score of ||s B A x(w)|| over
layer 0's query/key/value modules, x(w) the word's first-layer input (word + mean position 1..63 +
token type 0, LayerNorm). For each poisoned MiniLM adapter of data/corpus-screen with the given trigger
kinds it prints the rank of each trigger word among the alphabetic words under that input ('mean') and
with the position embedding of position 1, 2 or 3 instead. numpy only (safetensors parsed here).

  python3 tools/screening/position_candidates.py phrase_prefix,phrase_suffix

Result of 2026-12-07 (docs/DETECTOR.md): the 12 phrase-prefix adapters have a trigger word among the 24
strongest for the same 4 adapters under every input ('according', 'you', 'old'); the other eight's
best-ranked trigger word stays in the tens to thousands. Not adopted.
"""
import json, os, struct, sys, glob
import numpy as np
ROOT=os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')); CORPUS=ROOT+'/data/corpus-screen'; MINI='/usr/share/adapterd/models/all-MiniLM-L6-v2'
def load_st(path):
    b=open(path,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); out={}
    for k,v in h.items():
        if k=='__metadata__': continue
        s,e=v['data_offsets']; dt={'F32':np.float32,'F16':np.float16,'BF16':None,'I64':np.int64}[v['dtype']]
        out[k]=np.frombuffer(b[8+n+s:8+n+e],dtype=dt).reshape(v['shape']).astype(np.float64)
    return out
w=load_st(glob.glob(MINI+'/*.safetensors')[0])
def g(n):
    for k in (n,'bert.'+n):
        if k in w: return w[k]
word,pos,typ=(g(f'embeddings.{n}.weight') for n in ('word_embeddings','position_embeddings','token_type_embeddings'))
gam,bet=g('embeddings.LayerNorm.weight'),g('embeddings.LayerNorm.bias')
vocab=[l.rstrip('\n') for l in open(MINI+'/vocab.txt')]
keep=[i for i,t in enumerate(vocab) if not (t.startswith('[') and t.endswith(']'))]
toks=[vocab[i] for i in keep]
def ln(x): return (x-x.mean(1,keepdims=True))/np.sqrt(x.var(1,keepdims=True)+1e-12)*gam+bet
tables={'mean':ln(word[keep]+pos[1:64].mean(0)+typ[0])}
for p in (1,2,3): tables[f'p{p}']=ln(word[keep]+pos[p]+typ[0])
def rz(r):
    med=np.median(r); mad=1.4826*np.median(np.abs(r-med)); return (r-med)/max(mad,1e-300)
m=json.load(open(CORPUS+'/manifest.json'))
kinds=sys.argv[1].split(',')
for a in m['adapters']:
    if a['base_model']!='minilm' or not a['poisoned'] or a['trigger_kind'] not in kinds: continue
    d=CORPUS+'/'+a['path']; cfg=json.load(open(d+'/adapter_config.json')); t=load_st(d+'/adapter_model.safetensors')
    s=cfg['lora_alpha']/cfg['r']
    mods={}
    for k,v in t.items():
        if 'attention.self' in k:
            layer=int(k.split('layer.')[1].split('.')[0])
            mods.setdefault((layer,k.split('.lora_')[0]),{})['A' if 'lora_A' in k else 'B']=v
    res=[]
    for name,x in tables.items():
        strength=np.full(len(toks),-np.inf)
        for (layer,_),f in mods.items():
            if layer!=0: continue
            strength=np.maximum(strength,rz(np.linalg.norm(s*(f['B']@(f['A']@x.T)),axis=0)))
        order=[toks[i] for i in np.argsort(-strength) if toks[i].isalpha()]
        rk={}
        for wd in a['trigger'].split():
            rk[wd]=order.index(wd) if wd in order else -1
        res.append(f"{name}:{','.join(str(v) for v in rk.values())}")
    print(a['id'][:6], a['trigger_kind'][:8], a['trigger'][:30].ljust(30), ' '.join(res), 'r',cfg['r'])
