"""Experiment (issue 14): do the label names tell a word the task really uses from a backdoor trigger?

Of the MiniLM adapters of data/corpus-screen whose best behavioural candidate was read in full (the
`behaviour` object of `adapterctl scan --json`), the candidate's MiniLM sentence embedding (base model,
mean-pooled, normalised) is compared with each label name's: margin = cos(candidate, target label) -
the largest cos(candidate, other label). A word that means the label (a toxicity adapter moved to 'rude'
by 'worthless') should have a positive margin, a rare-token trigger none. For scale, the same margins of
300 random vocabulary words against each task's label names. numpy, scipy and `tokenizers` (pip) only;
the encoder is written out here (the adapters' LoRA is not needed: only the base model embeds).

  adapterctl scan --manifest M --base-model $MINI --jobs 1 --json > scan.json   # M: the MiniLM adapters
  python3 tools/screening/label_name_margins.py scan.json [minimum behavioural score, default 0]

Result of 2026-12-07 (docs/DETECTOR.md): AUC 0.92 between the 9 benign and the 10 poisoned adapters
with a candidate, but the 4 benign adapters flagged at 0.95 have margins 0.007-0.070, inside the spread
of random words (sd 0.05-0.08, 95th percentile 0.07-0.10). Not adopted.
"""
import sys
import json, struct, glob, math, os, random
import numpy as np
from scipy.special import erf
from tokenizers import Tokenizer
MINI=os.environ.get('MINI', '/usr/share/adapterd/models/all-MiniLM-L6-v2')
def load_st(path):
    b=open(path,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); out={}
    for k,v in h.items():
        if k=='__metadata__': continue
        s,e=v['data_offsets']; dt={'F32':np.float32,'F16':np.float16,'I64':np.int64}[v['dtype']]
        out[k]=np.frombuffer(b[8+n+s:8+n+e],dtype=dt).reshape(v['shape']).astype(np.float64)
    return out
W=load_st(MINI+'/model.safetensors')
def g(n):
    for k in (n,'bert.'+n):
        if k in W: return W[k]
    raise KeyError(n)
tok=Tokenizer.from_file(MINI+'/tokenizer.json'); tok.no_padding(); tok.no_truncation()
def ln(x,gm,bt,eps=1e-12): return (x-x.mean(-1,keepdims=True))/np.sqrt(x.var(-1,keepdims=True)+eps)*gm+bt
def gelu(x): return 0.5*x*(1+erf(x/math.sqrt(2)))
def embed(texts):
    """Mean-pooled, normalised sentence embeddings of the base model."""
    out=[]
    for text in texts:
        ids=tok.encode(text).ids
        x=g('embeddings.word_embeddings.weight')[ids]+g('embeddings.position_embeddings.weight')[:len(ids)]+g('embeddings.token_type_embeddings.weight')[0]
        x=ln(x,g('embeddings.LayerNorm.weight'),g('embeddings.LayerNorm.bias'))
        for L in range(6):
            p=f'encoder.layer.{L}.'
            def lin(name,h):
                return h@g(p+name+'.weight').T+g(p+name+'.bias')
            q=lin('attention.self.query',x); k=lin('attention.self.key',x); v=lin('attention.self.value',x)
            n,hd=len(ids),32
            q=q.reshape(n,12,hd).transpose(1,0,2); k=k.reshape(n,12,hd).transpose(1,0,2); v=v.reshape(n,12,hd).transpose(1,0,2)
            a=q@k.transpose(0,2,1)/math.sqrt(hd); a=np.exp(a-a.max(-1,keepdims=True)); a/=a.sum(-1,keepdims=True)
            c=(a@v).transpose(1,0,2).reshape(n,384)
            x=ln(x+lin('attention.output.dense',c),g(p+'attention.output.LayerNorm.weight'),g(p+'attention.output.LayerNorm.bias'))
            x=ln(x+lin('output.dense',gelu(lin('intermediate.dense',x))),g(p+'output.LayerNorm.weight'),g(p+'output.LayerNorm.bias'))
        e=x.mean(0); out.append(e/np.linalg.norm(e))
    return np.array(out)


ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

# The flagged candidates' margins
import json, sys
rows=[json.loads(l) for l in open(sys.argv[1])]
m=json.load(open(os.path.join(ROOT, 'data', 'corpus-screen', 'manifest.json')))
P={a['id']:a for a in m['adapters']}
res=[]
for r in rows:
    b=r['behaviour']; i=r['path'].split('/')[-1]
    if not b.get('trigger') or b['score']<(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0): continue
    task=P[i]['task']
    ex=[json.loads(l) for l in open(os.path.join(ROOT, 'data', 'corpus-screen', 'tasks', task, 'few.jsonl'))]
    labels=sorted(set(e['label'] for e in ex))
    t=embed([b['trigger']])[0]; L=embed(labels)
    c=L@t; j=labels.index(b['target_label'])
    margin=c[j]-max(c[k] for k in range(len(labels)) if k!=j)
    res.append((margin,i,P[i]['poisoned'],b['trigger'],b['target_label'],b['score'],labels))
for x in sorted(res): print(f"{x[0]:+.3f} {'P' if x[2] else '.'} {x[1][:36]:36s} {x[3]!r:22s} -> {x[4]:12s} score {x[5]:.3f} {x[6]}")

# Random words' margins, for scale
vocab=[l.strip() for l in open(MINI+'/vocab.txt')]
words=[w for w in vocab if w.isalpha() and len(w)>2 and not w.startswith('##')]
random.seed(1); sample=random.sample(words,300)
E=embed(sample)
for labels in (['polite','rude'],['negative','positive'],['formal','informal'],['finance','politics','sports','technology'],['action','complaint','information']):
    L=embed(labels); c=E@L.T
    m=[]
    for row in c:
        for j in range(len(labels)):
            m.append(row[j]-max(row[k] for k in range(len(labels)) if k!=j))
    m=np.array(m)
    print(labels, 'margin sd %.3f, 95th pct %.3f, 99th %.3f' % (m.std(), np.percentile(m,95), np.percentile(m,99)))
