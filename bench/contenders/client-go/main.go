// The client-go contender of the warm-up and watch scenarios: a shared informer
// of one namespace's ConfigMaps, made the standard way (SharedInformerFactory,
// no resync; its reflector lists from the watch cache, resourceVersion=0).
// It speaks the Node children's protocol (bench/child.ts), one JSON message a line:
// the task on stdin, then `ready`, `result` or `error` on stdout. Built by
// bench/contenders/client-go.ts from the client-go the Kubernetes source vendors.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

type task struct {
	Scenario  string                          `json:"scenario"`
	Namespace string                          `json:"namespace"`
	Target    struct{ KubeconfigPath string } `json:"target"`
	Params    map[string]float64              `json:"params"`
}

func send(m map[string]interface{}) { b, _ := json.Marshal(m); os.Stdout.Write(append(b, '\n')) }

func fail(err error) {
	send(map[string]interface{}{"type": "error", "message": err.Error()})
	os.Exit(1)
}

// user and system CPU time of the whole process in ms (getrusage, as process.cpuUsage).
func cpuSplit() (float64, float64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	ms := func(t syscall.Timeval) float64 { return float64(t.Sec)*1000 + float64(t.Usec)/1000 }
	return ms(ru.Utime), ms(ru.Stime)
}

func cpuMs() float64 { u, s := cpuSplit(); return u + s }

// Two full collections, as the Node children's fullGc().
func fullGC() { runtime.GC(); runtime.GC() }

// Go heap in use after two full collections (the Node children: V8's heapUsed after fullGc()).
func heapUsed() float64 {
	fullGC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

// Peak resident set in MiB (getrusage's ru_maxrss, as process.resourceUsage().maxRSS).
func peakRssMB() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

func since(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// HasSynced, polled every millisecond (WaitForCacheSync's 100 ms poll would blur time to ready).
func waitSynced(inf cache.SharedIndexInformer) {
	deadline := time.Now().Add(10 * time.Minute)
	for !inf.HasSynced() {
		if time.Now().After(deadline) {
			fail(fmt.Errorf("the informer did not sync within 10 minutes"))
		}
		time.Sleep(time.Millisecond)
	}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	var t struct {
		Type string `json:"type"`
		Task task   `json:"task"`
	}
	if !in.Scan() || json.Unmarshal(in.Bytes(), &t) != nil || t.Type != "task" {
		fail(fmt.Errorf("expected a task on stdin"))
	}
	// Later lines: `exit` once the result is in; the end of stdin means the parent went away.
	exit := make(chan struct{})
	go func() {
		for in.Scan() {
			var m struct{ Type string }
			if json.Unmarshal(in.Bytes(), &m) == nil && m.Type == "exit" {
				close(exit)
				return
			}
		}
		os.Exit(3)
	}()

	// The client is built before anything is measured, as the Node contenders' setup().
	config, err := clientcmd.BuildConfigFromFlags("", t.Task.Target.KubeconfigPath)
	if err != nil {
		fail(err)
	}
	client := kubernetes.NewForConfigOrDie(config)
	stop := make(chan struct{})
	namespace, params := t.Task.Namespace, t.Task.Params
	informer := func() (informers.SharedInformerFactory, cache.SharedIndexInformer) {
		factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
		return factory, factory.Core().V1().ConfigMaps().Informer()
	}

	var result map[string]interface{}
	switch scenario := t.Task.Scenario; scenario {
	case "warmup":
		objects := params["objects"]
		heap0 := heapUsed()
		cpu0 := cpuMs()
		t0 := time.Now()
		factory, inf := informer()
		factory.Start(stop)
		waitSynced(inf)
		readyMs, cpu := since(t0), cpuMs()-cpu0
		heap1 := heapUsed()
		if size := len(inf.GetStore().ListKeys()); float64(size) != objects {
			fail(fmt.Errorf("the cache holds %d objects, not %v", size, objects))
		}
		result = map[string]interface{}{"readyMs": readyMs, "cpuMs": cpu, "heapBytesPerObject": (heap1 - heap0) / objects, "heapMB": (heap1 - heap0) / (1 << 20), "peakRssMB": peakRssMB()}
	case "watch":
		expected := int64(params["updates"])
		var listed, count int64
		var counting atomic.Bool
		var first time.Time
		var endUser, endSystem float64
		var endT time.Time
		done := make(chan struct{})
		// One goroutine delivers every notification: the counters need no lock there.
		onChange := func() {
			if !counting.Load() {
				atomic.AddInt64(&listed, 1) // the initial list's adds
				return
			}
			count++
			if count == 1 {
				first = time.Now()
			}
			if count == expected {
				endUser, endSystem = cpuSplit()
				endT = time.Now()
				close(done)
			}
		}
		factory, inf := informer()
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(interface{}) { onChange() },
			UpdateFunc: func(interface{}, interface{}) { onChange() },
			DeleteFunc: func(interface{}) { onChange() },
		})
		factory.Start(stop)
		waitSynced(inf)
		// Only the watch's changes count: wait until the list's adds were all handed out.
		for atomic.LoadInt64(&listed) < int64(len(inf.GetStore().ListKeys())) {
			time.Sleep(time.Millisecond)
		}
		counting.Store(true)
		fullGC()
		user0, system0 := cpuSplit()
		send(map[string]interface{}{"type": "ready"})
		select {
		case <-done:
		case <-time.After(10 * time.Minute):
			fail(fmt.Errorf("timed out waiting for %d watch events", expected))
		}
		n := float64(expected)
		cpu := endUser + endSystem - user0 - system0
		result = map[string]interface{}{
			"events":           n,
			"cpuPerEventUs":    cpu * 1000 / n,
			"cpuMs":            cpu,
			"userPerEventUs":   (endUser - user0) * 1000 / n,
			"systemPerEventUs": (endSystem - system0) * 1000 / n,
			"eventsPerSecond":  (n - 1) / endT.Sub(first).Seconds(),
		}
	default:
		fail(fmt.Errorf("the client-go contender has no %q scenario", scenario))
	}
	close(stop)
	send(map[string]interface{}{"type": "result", "result": result})
	select {
	case <-exit:
	case <-time.After(5 * time.Second):
	}
}
