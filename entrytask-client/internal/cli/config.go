package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/lbclient"
)

// EnvPrefix starts the name of every environment variable etclient reads.
const EnvPrefix = "ETCLIENT_"

// settings are the resolved options of one command: defaults < YAML file (--config) <
// ETCLIENT_* environment < flags given on the command line.
type settings struct {
	User        string        `koanf:"user"`
	Password    string        `koanf:"password"`
	Key         string        `koanf:"key"`
	Value       string        `koanf:"value"`
	Server      string        `koanf:"server"`
	Timeout     time.Duration `koanf:"timeout"`
	TLS         bool          `koanf:"tls"`
	CA          string        `koanf:"ca"`
	Cert        string        `koanf:"cert"`
	TLSKey      string        `koanf:"tls-key"`
	Config      string        `koanf:"config"`
	Output      string        `koanf:"output"`
	Concurrency int           `koanf:"concurrency"`
	Requests    int64         `koanf:"requests"`
	Duration    time.Duration `koanf:"duration"`
	Rate        float64       `koanf:"rate"`
	Warmup      time.Duration `koanf:"warmup"`
	Users       int           `koanf:"users"`
	ValueSize   int           `koanf:"value-size"`
	MaxFailures int64         `koanf:"max-failures"`
	CPUProfile  string        `koanf:"cpuprofile"`
	Hist        string        `koanf:"hist"`
	MaxConnFail int           `koanf:"max-conn-failures"`
	OTel        string        `koanf:"otel-endpoint"`
	Legacy      bool          `koanf:"legacy"`

	endpoints []lbclient.Endpoint
}

func defaultSettings() map[string]any {
	return map[string]any{
		flagUser:        DefaultUser,
		flagPassword:    DefaultPassword,
		flagKey:         DefaultKey,
		flagValue:       DefaultValue,
		flagServer:      kvclient.DefaultServer,
		flagTimeout:     DefaultTimeout,
		flagTLS:         false,
		flagCA:          "",
		flagCert:        "",
		flagTLSKey:      "",
		flagConfig:      "",
		flagOutput:      DefaultOutput,
		flagConcurrency: DefaultConcurrency,
		flagRequests:    int64(DefaultRequests),
		flagDuration:    time.Duration(0),
		flagRate:        0.0,
		flagWarmup:      time.Duration(0),
		flagUsers:       DefaultUsers,
		flagValueSize:   0,
		flagMaxFailures: int64(DefaultMaxFailures),
		flagCPUProfile:  "",
		flagHist:        "",
		flagMaxConnFail: DefaultMaxConnFailures,
		flagOTel:        "",
		flagLegacy:      false,
	}
}

// envName is the environment variable of a setting.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// loadSettings resolves the settings of the command c.
func loadSettings(c *cli.Context) (settings, error) {
	var s settings
	known := defaultSettings()
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(known, "."), nil); err != nil {
		return s, fmt.Errorf("defaults: %w", err)
	}

	// The environment is read first so that ETCLIENT_CONFIG can name the file, but it is
	// merged after the file.
	ke := koanf.New(".")
	if err := ke.Load(env.Provider(EnvPrefix, ".", func(name string) string {
		return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "_", "-")
	}), nil); err != nil {
		return s, fmt.Errorf("environment: %w", err)
	}
	for _, key := range ke.Keys() {
		if _, ok := known[key]; !ok {
			return s, usageErrorf("environment variable %s is not a setting (known: %s)", envName(key), knownList(known, envName))
		}
	}

	path := ke.String(flagConfig)
	if c.IsSet(flagConfig) {
		path = c.String(flagConfig)
	}
	if path != "" {
		kf := koanf.New(".")
		if err := kf.Load(file.Provider(path), yaml.Parser()); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return s, usageErrorf("config file %s does not exist", path)
			}
			return s, usageErrorf("config file %s: %v", path, err)
		}
		for _, key := range kf.Keys() {
			if _, ok := known[key]; !ok || key == flagConfig {
				return s, usageErrorf("config file %s: unknown key %q (known: %s)", path, key, knownList(known, nil))
			}
		}
		if err := k.Merge(kf); err != nil {
			return s, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := k.Merge(ke); err != nil {
		return s, fmt.Errorf("environment: %w", err)
	}

	set := map[string]any{}
	for key := range known {
		if c.IsSet(key) {
			set[key] = c.Value(key)
		}
	}
	if err := k.Load(confmap.Provider(set, "."), nil); err != nil {
		return s, fmt.Errorf("flags: %w", err)
	}
	if err := k.Unmarshal("", &s); err != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), "decoding failed due to the following error(s):"))
		return s, usageErrorf("bad setting (from --config, ETCLIENT_* or a flag): %s", msg)
	}
	s.Config = path
	return s, s.validate()
}

func knownList(known map[string]any, name func(string) string) string {
	var keys []string
	for key := range known {
		if key == flagConfig {
			continue
		}
		if name != nil {
			key = name(key)
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// validate checks the settings, naming the flag of a bad one.
func (s *settings) validate() error {
	switch {
	case s.User == "":
		return usageErrorf("--user must not be empty")
	case s.Key == "":
		return usageErrorf("--key must not be empty")
	case s.Value == "":
		return usageErrorf("--value must not be empty")
	case s.Output != OutputTable && s.Output != OutputJSON && s.Output != OutputCSV:
		return usageErrorf("--output %q: want %s, %s or (benchmarks) %s", s.Output, OutputTable, OutputJSON, OutputCSV)
	case s.MaxConnFail < 0:
		return usageErrorf("--max-conn-failures %d must not be negative", s.MaxConnFail)
	case s.Timeout < 0:
		return usageErrorf("--timeout %v must not be negative", s.Timeout)
	case s.Concurrency < 1:
		return usageErrorf("--concurrency %d must be at least 1", s.Concurrency)
	case s.Requests < 1:
		return usageErrorf("--requests %d must be at least 1", s.Requests)
	case s.Duration < 0:
		return usageErrorf("--duration %v must not be negative", s.Duration)
	case s.Warmup < 0:
		return usageErrorf("--warmup %v must not be negative", s.Warmup)
	case s.Rate < 0:
		return usageErrorf("--rate %v must not be negative", s.Rate)
	case s.Users < 1:
		return usageErrorf("--users %d must be at least 1", s.Users)
	case s.ValueSize < 0:
		return usageErrorf("--value-size %d must not be negative", s.ValueSize)
	case s.ValueSize > 0 && s.ValueSize < len(s.Value):
		return usageErrorf("--value-size %d is shorter than the %d-byte --value", s.ValueSize, len(s.Value))
	case s.MaxFailures < 0:
		return usageErrorf("--max-failures %d must not be negative", s.MaxFailures)
	case !s.TLS && s.CA != "":
		return usageErrorf("--ca needs --tls")
	case !s.TLS && s.Cert != "":
		return usageErrorf("--cert needs --tls")
	case !s.TLS && s.TLSKey != "":
		return usageErrorf("--tls-key needs --tls")
	case (s.Cert == "") != (s.TLSKey == ""):
		return usageErrorf("--cert and --tls-key go together")
	case s.Legacy && (s.TLS || s.OTel != ""):
		return usageErrorf("--legacy speaks plain TCP without tracing: drop --tls and --otel-endpoint")
	case s.OTel != "" && !validOTelURL(s.OTel):
		return usageErrorf("--otel-endpoint %q: want an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces", s.OTel)
	}
	eps, err := lbclient.ParseTarget(s.Server)
	if err != nil {
		return usageErrorf("--server: %v", err)
	}
	if s.Legacy && len(eps) > 1 {
		return usageErrorf("--legacy takes one --server, not a list")
	}
	s.endpoints = eps
	return nil
}
