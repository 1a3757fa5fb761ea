using System.Reflection;
using HikShareGateway.Composition;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Tests.Architecture;

/// <summary>
/// An installer filters the journal by event id (each project keeps its own block: Rtsp 2xxx, Access/Cloud 3xxx, Onvif 4xxx, Http 5xxx, WebRtc 70xx–71xx, Mp4 76xx, FFmpeg 78xx), so one id must mean
/// one message across the whole daemon: every <c>[LoggerMessage]</c> of every gateway assembly is read here.
/// </summary>
[Trait("Category", "Unit")]
public sealed class LogEventIdTests
{
    private static IEnumerable<Assembly> GatewayAssemblies()
    {
        var host = typeof(Features).Assembly;
        yield return host;
        foreach (var name in host.GetReferencedAssemblies())
            if (name.Name!.StartsWith("HikShareGateway", StringComparison.Ordinal))
                yield return Assembly.Load(name);
    }

    private static IEnumerable<(int Id, string Where)> EventIds() =>
        from assembly in GatewayAssemblies().Distinct()
        from type in assembly.GetTypes()
        from method in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly)
        let attribute = method.GetCustomAttribute<LoggerMessageAttribute>()
        where attribute is not null && attribute.EventId != -1
        select (attribute.EventId, $"{assembly.GetName().Name}: {type.FullName}.{method.Name}");

    [Fact]
    public void EveryLogEventId_IsUsedByOneMessageOnly_AcrossTheDaemon()
    {
        var all = EventIds().ToArray();
        Assert.True(all.Length > 100, $"only {all.Length} [LoggerMessage] methods found; the scan is broken");
        var duplicates = all.GroupBy(e => e.Id).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(" | ", g.Select(e => e.Where))}").ToArray();
        Assert.True(duplicates.Length == 0, "event ids used twice:\n" + string.Join("\n", duplicates));
    }
}
