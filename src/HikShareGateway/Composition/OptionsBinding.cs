using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using HikShareGateway.Access;
using HikShareGateway.Cloud;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Ffmpeg;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Http;
using HikShareGateway.Http.Metrics;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Rtsp;

namespace HikShareGateway.Composition;

/// <summary>
/// Binds an options section with the type known at compile time, so that the configuration binding source
/// generator (EnableConfigurationBindingGenerator) writes the binder: no reflection, NativeAOT-safe. A type without
/// a case here is bound by reflection under the JIT and refused at start in a NativeAOT build (never silently empty).
/// </summary>
internal static class OptionsBinding
{
    /// <returns>True when generated code bound it (what a NativeAOT build needs), false for the reflection fallback.</returns>
    public static bool Bind<T>(IConfigurationSection section, T options, ICollection<string> errors) where T : class
    {
        Action<BinderOptions> binder = static o => o.ErrorOnUnknownConfiguration = false;
        switch (options)
        {
            case GatewayOptions o: section.Bind(o, binder); break;
            case HttpOptions o: section.Bind(o, binder); break;
            case DiscoveryOptions o: section.Bind(o, binder); break;
            case RtspOptions o: section.Bind(o, binder); break;
            case PtzApiOptions o: section.Bind(o, binder); break;
            case AdminOptions o: section.Bind(o, binder); break;
            case MetricsOptions o: section.Bind(o, binder); break;
            case CloudLinkOptions o: section.Bind(o, binder); break;
            case CloudTrustOptions o: section.Bind(o, binder); break;
            case AccessOptions o: section.Bind(o, binder); break;
            case MediaTranscodingOptions o: section.Bind(o, binder); break;
            case AlarmSnapshotOptions o: section.Bind(o, binder); break;
            case OnvifOptions o: section.Bind(o, binder); break;
            case LimitsOptions o: section.Bind(o, binder); break;
            default:
                if (!RuntimeFeature.IsDynamicCodeSupported)
                {
                    errors.Add($"{section.Path}: {typeof(T).Name} has no generated binder in this NativeAOT build (add it to OptionsBinding).");
                    return false;
                }
                BindByReflection(section, options, binder);
                return false;
        }
        return true;
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Reached only where dynamic code is supported (JIT), checked above.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Reached only where dynamic code is supported (JIT), checked above.")]
    private static void BindByReflection(IConfigurationSection section, object options, Action<BinderOptions> binder)
    {
        // Through a delegate: deliberately the reflection binder, which the generator neither intercepts nor flags.
        Action<IConfiguration, object?, Action<BinderOptions>?> bind = ConfigurationBinder.Bind;
        bind(section, options, binder);
    }
}
