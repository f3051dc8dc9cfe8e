// Command manifest-check reads Kubernetes manifests (multi-document YAML) on stdin and decodes
// every object of a built-in kind strictly into its client-go type, as `kubectl apply
// --validate=strict` would: an unknown or misplaced field, or a value of the wrong type, is an
// error. Custom resources (ServiceMonitor, ScaledObject, …) have no type here and are listed as
// skipped. It exists so the chart's templates are checked without a cluster.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// The kinds the chart and the examples use, by apiVersion and kind.
var types = map[string]func() any{
	"apps/v1 Deployment":                     func() any { return &appsv1.Deployment{} },
	"batch/v1 Job":                           func() any { return &batchv1.Job{} },
	"v1 Service":                             func() any { return &corev1.Service{} },
	"v1 ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1 Secret":                              func() any { return &corev1.Secret{} },
	"v1 ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"policy/v1 PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2 HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1 NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1 Ingress":           func() any { return &networkingv1.Ingress{} },
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func main() {
	failed := false
	reader := yaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "reading YAML: %v\n", err)
			os.Exit(2)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var h header
		if err := sigsyaml.Unmarshal(doc, &h); err != nil {
			fmt.Fprintf(os.Stderr, "not a manifest: %v\n", err)
			failed = true
			continue
		}
		if h.Kind == "" {
			continue // a document holding only comments
		}
		name := fmt.Sprintf("%s %s/%s", h.APIVersion, h.Kind, h.Metadata.Name)
		newObject, known := types[h.APIVersion+" "+h.Kind]
		if !known {
			fmt.Printf("skipped %s (no built-in type)\n", name)
			continue
		}
		if err := sigsyaml.UnmarshalStrict(doc, newObject()); err != nil {
			fmt.Fprintf(os.Stderr, "invalid %s: %v\n", name, err)
			failed = true
			continue
		}
		fmt.Printf("ok %s\n", name)
	}
	if failed {
		os.Exit(1)
	}
}
