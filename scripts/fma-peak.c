// The machine's arithmetic limit for BENCHMARKS.md: AVX2 FMA throughput, 1 and 2 threads.
// gcc -O2 -mavx2 -mfma -pthread scripts/fma-peak.c -o /tmp/fma-peak && /tmp/fma-peak
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#include <pthread.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void* run(void* arg){
  __m256 a[12]; __m256 b=_mm256_set1_ps(1.0000001f), c=_mm256_set1_ps(1e-7f);
  for(int i=0;i<12;i++) a[i]=_mm256_set1_ps((float)i);
  long iters=*(long*)arg;
  for(long n=0;n<iters;n++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) a[i]=_mm256_fmadd_ps(a[i],b,c);
  }
  float s=0; for(int i=0;i<12;i++){ float t[8]; _mm256_storeu_ps(t,a[i]); s+=t[0]; }
  static volatile float sink; sink=s; return 0;
}
int main(int argc,char**argv){
  long iters=200000000;
  for(int th=1;th<=2;th++){
    pthread_t t[2]; double t0=now();
    for(int i=0;i<th;i++) pthread_create(&t[i],0,run,&iters);
    for(int i=0;i<th;i++) pthread_join(t[i],0);
    double dt=now()-t0;
    printf("threads %d: %.1f GFLOP/s (AVX2 FMA, 12 independent chains)\n",th, th*iters*12.0*8*2/dt/1e9);
  }
}
