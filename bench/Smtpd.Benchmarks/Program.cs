using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Smtpd.Benchmarks.CommandParsingBenchmarks).Assembly).Run(args);
