# Stand-ins for the Vivado / Vitis HLS Tcl commands the generated scripts call, for tclsh.
# Every call is recorded as one line "CALL <command> <args>" on stdout; queries answer
# like a small Vivado would. Set before sourcing: ::board_parts (what get_board_parts
# finds), ::run_dir (where impl_1 wrote its .bit), ::wrapper (make_wrapper's file).
# A script's exit is caught: "EXIT <code>" is printed and the script stops.
set ::calls {}

proc _rec {name args} {
    puts "CALL [concat $name $args]"
}

foreach p {create_project update_ip_catalog create_bd_design apply_bd_automation
           make_bd_intf_pins_external connect_bd_intf_net connect_bd_net assign_bd_address
           validate_bd_design save_bd_design generate_target add_files update_compile_order
           launch_runs wait_on_run open_run report_utilization report_timing_summary
           close_project set_top open_project open_solution set_part create_clock csim_design
           csynth_design export_design} {
    proc $p {args} "_rec $p {*}\$args; return {}"
}

proc set_property {args} {
    _rec set_property {*}$args
    return {}
}

proc current_project {args} { return proj }
proc current_fileset {args} { return sources_1 }
proc get_runs {name} { return $name }
proc get_files {name} { return $name }
proc make_wrapper {args} { _rec make_wrapper {*}$args; return $::wrapper }

# the newest of three versions is 1.10 (dictionary order, not string order)
proc get_ipdefs {args} {
    set prefix [string range [lindex $args end] 0 end-2]
    _rec get_ipdefs {*}$args
    return [list "$prefix:1.2" "$prefix:1.10" "$prefix:1.0"]
}

proc get_board_parts {args} {
    _rec get_board_parts {*}$args
    return $::board_parts
}

proc create_bd_cell {args} {
    _rec create_bd_cell {*}$args
    return [lindex $args end]
}

proc _opt {args key} {
    set i [lsearch -exact $args $key]
    if {$i < 0} { return "" }
    return [lindex $args [expr {$i + 1}]]
}

proc get_bd_intf_pins {args} {
    set of [_opt $args -of_objects]
    if {$of eq ""} { return [lindex $args end] }
    set f [_opt $args -filter]
    if {[string match "*axis_rtl*" $f] && [string match "*Slave*" $f]} { return "$of/in_r" }
    if {[string match "*axis_rtl*" $f] && [string match "*Master*" $f]} { return "$of/out_r" }
    if {[string match "*aximm_rtl*" $f]} { return "$of/s_axi_control" }
    return {}
}

proc get_bd_pins {args} {
    set of [_opt $args -of_objects]
    if {$of eq ""} { return [lindex $args end] }
    set f [_opt $args -filter]
    if {$of eq "axi_dma_0" && [string match "*clk*" $f]} {
        return [list $of/s_axi_lite_aclk $of/m_axi_mm2s_aclk $of/m_axi_s2mm_aclk]
    }
    if {[string match "*clk*" $f]} { return "$of/ap_clk" }
    if {[string match "*rst*" $f]} { return "$of/ap_rst_n" }
    return {}
}

proc get_bd_addr_spaces {args} { return ps/Data }
proc get_bd_addr_segs {args} { return [list SEG_axi_dma_0_Reg SEG_bnnc_top_0_Reg] }

proc get_property {name obj} {
    switch -- $name {
        PROGRESS { return "100%" }
        DIRECTORY { return $::run_dir }
        STATS.WNS { return 0.25 }
        OFFSET { return 0x40000000 }
        RANGE { return 64K }
        NAME { return $obj }
    }
    return {}
}

namespace eval ipx {}
foreach p {package_project associate_bus_interfaces create_xgui_files update_checksums
           check_integrity save_core} {
    proc ipx::$p {args} "_rec ipx::$p {*}\$args; return {}"
}
proc ipx::current_core {args} { return core }
proc ipx::get_bus_parameters {args} { return {} }
proc ipx::add_bus_parameter {name bus} { _rec ipx::add_bus_parameter $name $bus; return $name }
proc ipx::get_bus_interfaces {args} {
    set f [_opt $args -filter]
    if {[string match "*signal:clock*" $f]} { return ap_clk }
    if {[string match "*signal:reset*" $f]} { return ap_rst_n }
    if {[string match "*axis*" $f]} { return [list in_r out_r] }
    if {[string match "*aximm*" $f]} { return s_axi_control }
    return {}
}

rename exit _real_exit
proc exit {{code 0}} {
    puts "EXIT $code"
    return -code error -errorcode BNNC_EXIT "exit $code"
}

proc run_script {path} {
    if {[catch {uplevel #0 [list source $path]} msg opts]} {
        if {[dict get $opts -errorcode] ne "BNNC_EXIT"} {
            puts "TCLERROR $msg"
            puts [dict get $opts -errorinfo]
        }
    }
}
