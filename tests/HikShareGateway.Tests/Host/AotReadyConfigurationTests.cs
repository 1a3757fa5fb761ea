using HikShareGateway.Composition;
using HikShareGateway.Core.Configuration;
using Microsoft.Extensions.Configuration;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace HikShareGateway.Tests.Host;

/// <summary>
/// What the NativeAOT publish relies on, checked in the JIT build: every options type is bound by generated code
/// (OptionsBinding has a case for it), and the log levels of <c>Logging:Serilog:MinimumLevel</c> are applied by
/// code of ours rather than Serilog.Settings.Configuration's reflection.
/// </summary>
[Trait("Category", "Unit")]
public sealed class AotReadyConfigurationTests
{
    private sealed class CollectingSink : ILogEventSink
    {
        public readonly List<LogEvent> Events = [];
        public void Emit(LogEvent logEvent) => Events.Add(logEvent);
    }

    private static IConfiguration Config(params (string Key, string Value)[] values)
        => new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void Every_validatable_options_type_of_the_daemon_has_a_generated_binder()
    {
        var types = typeof(Features).Assembly.GetReferencedAssemblies()
            .Select(System.Reflection.Assembly.Load)
            .Append(typeof(Features).Assembly)
            .SelectMany(a => a.GetTypes())
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IValidatableOptions).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .ToList();
        Assert.True(types.Count >= 13, $"found only {types.Count} options types");
        var section = Config().GetSection("Nothing");
        var missing = types.Where(t => !OptionsBinding.Bind(section, Activator.CreateInstance(t)!, new List<string>())).Select(t => t.FullName).ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public void Generated_binder_sets_values_and_reports_a_bad_one_as_an_error_naming_the_section()
    {
        var ok = Features.Bind<GatewayOptions>(Config(("Gateway:Id", "gw-aot")), GatewayOptions.Section, new List<string>());
        Assert.Equal("gw-aot", ok.Id);

        var errors = new List<string>();
        Features.Bind<HttpOptions>(Config(("Http:Port", "not-a-port")), HttpOptions.Section, errors);
        Assert.Contains(errors, e => e.StartsWith(HttpOptions.Section + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void Log_levels_default_and_overrides_come_from_the_serilog_section()
    {
        var sink = new CollectingSink();
        var config = new LoggerConfiguration();
        GatewayRunner.ApplyLevels(config, Config(
            ("Logging:Serilog:MinimumLevel:Default", "Debug"),
            ("Logging:Serilog:MinimumLevel:Override:Noisy.Source", "error")).GetSection("Logging:Serilog:MinimumLevel"));
        using var logger = config.WriteTo.Sink(sink).CreateLogger();

        logger.ForContext(Constants.SourceContextPropertyName, "Some.Source").Debug("kept");
        logger.ForContext(Constants.SourceContextPropertyName, "Noisy.Source.Child").Warning("dropped");
        logger.ForContext(Constants.SourceContextPropertyName, "Noisy.Source").Error("kept too");

        Assert.Equal(["kept", "kept too"], sink.Events.Select(e => e.MessageTemplate.Text));
    }

    [Fact]
    public void A_scalar_minimum_level_applies_and_an_unknown_level_name_changes_nothing()
    {
        var sink = new CollectingSink();
        var config = new LoggerConfiguration().MinimumLevel.Information();
        GatewayRunner.ApplyLevels(config, Config(
            ("Logging:Serilog:MinimumLevel", "Warning"),
            ("Logging:Serilog:MinimumLevel:Override:X", "Loud")).GetSection("Logging:Serilog:MinimumLevel"));
        using var logger = config.WriteTo.Sink(sink).CreateLogger();

        logger.Information("dropped");
        logger.ForContext(Constants.SourceContextPropertyName, "X").Information("dropped too");
        logger.Warning("kept");

        Assert.Equal(["kept"], sink.Events.Select(e => e.MessageTemplate.Text));
    }

    [Fact]
    public void WebRtc_records_with_init_only_properties_get_configured_values_and_keep_their_defaults()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateEmptyBuilder(new());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["WebRtc:Enabled"] = "true",
            ["WebRtc:UdpPort"] = "0",
            ["WebRtc:AdditionalHosts:0"] = "gw.example.net",
            ["WebRtc:IceServers:0:Urls:0"] = "stun:stun.example.net:3478",
            ["WebRtc:MaxSessions"] = "7",
        });
        var errors = new List<string>();
        WebRtcFeature.Register(builder, new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UtcNow), errors);
        Assert.Empty(errors);
        var services = builder.Services;
        var options = (global::HikShareGateway.WebRtc.WebRtcOptions)services.Single(d => d.ServiceType == typeof(global::HikShareGateway.WebRtc.WebRtcOptions)).ImplementationInstance!;
        var viewing = (global::HikShareGateway.WebRtc.Viewing.WebRtcViewingOptions)services.Single(d => d.ServiceType == typeof(global::HikShareGateway.WebRtc.Viewing.WebRtcViewingOptions)).ImplementationInstance!;

        Assert.Equal(0, options.UdpPort);
        Assert.Equal(["gw.example.net"], options.AdditionalHosts);
        Assert.Equal(["stun:stun.example.net:3478"], Assert.Single(options.IceServers).Urls);
        Assert.Equal(new global::HikShareGateway.WebRtc.WebRtcOptions().RtpMtu, options.RtpMtu);
        Assert.Equal(7, viewing.MaxSessions);
        Assert.Equal(new global::HikShareGateway.WebRtc.Viewing.WebRtcViewingOptions().MaxSessionsPerAccount, viewing.MaxSessionsPerAccount);
    }
}
